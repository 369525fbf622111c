"""The fleet: per-node doctor/verify/bench documents merged into one view (`merge`), and the
launchers that produce them on every node (`slurm`). merge is the one core; launchers are thin."""
