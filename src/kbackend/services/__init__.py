"""Services: what combines config, environments and child processes (above config/ and envs/)."""
