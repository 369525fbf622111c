"""kbackend: the command-line tool for Keras's configuration and backends."""

__version__ = "0.1.0"
