from slurm_fixture import slurm_cluster  # noqa: F401 - the real Slurm fixture, for the tests of this folder
