"""Run `python -m kbackend` as a user would, in a throwaway home (the integration tests' one way to do it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def isolated_env(tmp, extra=None) -> dict:
    """This environment with HOME, KERAS_HOME and the XDG folders under `tmp` and no KERAS_BACKEND."""
    env = {**os.environ, "HOME": str(tmp), "KERAS_HOME": str(tmp / ".keras"), "XDG_CACHE_HOME": str(tmp / ".cache"),
           "XDG_CONFIG_HOME": str(tmp / ".config"), **(extra or {})}
    env.pop("KERAS_BACKEND", None)
    return env


def run_kbackend(tmp, *args, env_extra=None, timeout=540) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `kbackend ARGS` run in `tmp` with `isolated_env`."""
    p = subprocess.run([sys.executable, "-m", "kbackend", *args], env=isolated_env(tmp, env_extra), cwd=str(tmp),
                       capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr


def run_verify(tmp, *args, env_extra=None) -> tuple[int, dict, str]:
    """(exit code, JSON document, stderr) of `kbackend verify --json ARGS`."""
    code, out, err = run_kbackend(tmp, "verify", "--json", *args, env_extra=env_extra)
    return code, json.loads(out), err
