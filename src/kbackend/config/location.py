"""Where keras.json lives, computed exactly as Keras computes it.

Keras 3 (and 2.2+): `KERAS_HOME` when it is set, even to the empty string, used
as given; otherwise `~/.keras`, or `/tmp/.keras` when the home directory is not
writable. The file path is `os.path.expanduser(os.path.join(dir, "keras.json"))`.

>>> locate({"KERAS_HOME": "/data/k"}).path
'/data/k/keras.json'
>>> locate({"KERAS_HOME": "/data/k"}).origin
'env:KERAS_HOME'
"""

from __future__ import annotations

import os
from typing import Mapping

from kbackend._record import field, record
from kbackend.config.rules import Rules


@record
class Location:
    #: the directory as Keras computes it (may be relative or empty).
    keras_dir: str
    #: the absolute, user-expanded path of keras.json as Keras would open it.
    path: str
    #: `default`, `env:KERAS_HOME`, `option:--keras-home` or `fallback:/tmp`.
    origin: str
    notes: tuple[str, ...] = field(default=())


def locate(
    environ: Mapping[str, str] | None = None,
    *,
    keras_home: str | None = None,
    rules: Rules | None = None,
    cwd: str | None = None,
) -> Location:
    """Compute keras.json's location for an environment.

    `keras_home` (kbackend's `--keras-home`) acts as `KERAS_HOME` would.
    """
    env = os.environ if environ is None else environ
    notes: list[str] = []
    honours_env = rules is None or rules.keras_home_env
    if keras_home is not None:
        kdir, origin = keras_home, "option:--keras-home"
    elif honours_env and "KERAS_HOME" in env:
        kdir, origin = env["KERAS_HOME"], "env:KERAS_HOME"
        if kdir == "":
            notes.append("KERAS_HOME is set to the empty string: Keras uses keras.json in the current directory")
        elif not os.path.isabs(os.path.expanduser(kdir)):
            notes.append(f"KERAS_HOME={kdir} is relative: Keras resolves it against the current directory")
        if kdir.startswith("~"):
            notes.append(
                f"KERAS_HOME={kdir} starts with '~': Keras expands it for keras.json but creates "
                "missing directories literally (a folder named '~' in the current directory); use an absolute path"
            )
    else:
        if "KERAS_HOME" in env and not honours_env:
            notes.append(f"KERAS_HOME is set but Keras {rules.keras_version} does not read it")
        home = _expanduser("~", env)
        if (rules is None or rules.tmp_fallback) and not os.access(home, os.W_OK):
            kdir, origin = os.path.join("/tmp", ".keras"), "fallback:/tmp"
            notes.append(f"the home directory {home} is not writable: Keras uses /tmp/.keras and ignores ~/.keras")
        else:
            kdir, origin = os.path.join(home, ".keras"), "default"
    path = _expanduser(os.path.join(kdir, "keras.json"), env)
    path = os.path.join(cwd or os.getcwd(), path) if not os.path.isabs(path) else path
    return Location(kdir, os.path.normpath(path), origin, tuple(notes))


def _expanduser(p: str, env: Mapping[str, str]) -> str:
    """os.path.expanduser, honouring HOME from `env` rather than os.environ."""
    if not p.startswith("~"):
        return p
    if env is os.environ or "HOME" not in env:
        return os.path.expanduser(p)
    i = p.find("/", 1)
    if i < 0:
        i = len(p)
    if i == 1:
        return env["HOME"].rstrip("/") + p[i:] or "/"
    return os.path.expanduser(p)
