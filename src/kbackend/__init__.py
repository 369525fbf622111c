"""kbackend: the command-line tool for Keras's configuration and backends."""

__version__ = "0.1.0"


def cache_dir(*parts: str) -> str:
    """kbackend's folder in the user cache directory (platformdirs), or a path inside it."""
    import os

    import platformdirs

    return os.path.join(platformdirs.user_cache_dir("kbackend"), *parts)
