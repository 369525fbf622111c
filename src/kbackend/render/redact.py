"""Redaction of a document meant for a public bug report (`kbackend doctor --report`).

One `Redactor` applies to every string of the document, dictionary keys
included: GPU and MIG UUIDs, whole or partial (CUDA accepts any unique prefix,
`GPU-8f3a`), become `<uuid>`; the home directory (as written, without a trailing
slash, and through its symlinks) becomes `~`; the user name becomes `<user>` where
it is a path component (`/scratch/ann/x`) or a whole word of three letters or
more (never inside another word: a user `a` or `ai` leaves "a" and "paint" alone);
the value of anything whose name looks like a secret becomes `<redacted>`.

>>> r = Redactor(homes=["/home/ann/"], users=["ann"])
>>> r.text("GPU-8f3a in /home/ann/venv, /scratch/ann/data, /home/annie, ann@host")
'<uuid> in ~/venv, /scratch/<user>/data, /home/annie, <user>@host'
>>> r.doc({"facts": {"HF_TOKEN": "hf_abc", "/home/ann/x": ["MIG-4f2a1c0e-aaaa"]}})
{'facts': {'HF_TOKEN': '<redacted>', '~/x': ['<uuid>']}}
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Any

from kbackend.doctor.environ import looks_secret

UUID = "<uuid>"
USER = "<user>"
SECRET = "<redacted>"
#: user names shorter than this are redacted as path components only, never as words.
WORD_MIN = 3

_HEX_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
#: a GPU or MIG identifier as nvidia-smi prints it or CUDA_VISIBLE_DEVICES accepts it: the
#: prefix, then a whole UUID or any prefix of one (two hex digits or more), MIG's old
#: `MIG-GPU-<uuid>/gi/ci` form included.
_DEVICE_ID = re.compile(
    r"(?<![\w-])(?:MIG-GPU-|MIG-|GPU-)[0-9a-fA-F]{2,}(?:-[0-9a-fA-F]+)*(?:/\d+)*(?![\w-])"
)
_BARE_UUID = re.compile(r"(?<![\w-])" + _HEX_UUID + r"(?![\w-])")
#: NAME=value, NAME="value" and 'NAME': 'value' (a dict's repr, a JSON object) in free text
#: (logs, tracebacks, evidence): the value goes when the name looks secret.
_ASSIGN = re.compile(r"(?<![\w.])([A-Za-z_][A-Za-z0-9_.-]*)=(\"[^\"\n]*\"|'[^'\n]*'|[^\s'\",;]*)")
#: NAME=value inside a value: after any character but a word character or a dot (`?token=`, `&key=`).
_INNER_ASSIGN = re.compile(r"(?<![\w.])([A-Za-z_][A-Za-z0-9_.-]*)=([^\s'\",;:&?#]*)")
#: user:password@ in a URL (a proxy, an index URL).
_URL_CREDENTIALS = re.compile(r"(?<=://)[^/\s:@]+:[^/\s@]+@")
_PAIR = re.compile(r"(['\"])([A-Za-z_][A-Za-z0-9_.-]*)\1(\s*:\s*)(\"[^\"\n]*\"|'[^'\n]*'|[^\s,;}\]]+)")


def default_homes(environ: dict[str, str] | None = None) -> list[str]:
    """The home directory as HOME says, as `~` expands and as the password database says."""
    env = os.environ if environ is None else environ
    homes = {env.get("HOME", ""), os.path.expanduser("~")}
    try:
        import pwd

        homes.add(pwd.getpwuid(os.getuid()).pw_dir)
    except (ImportError, KeyError, OSError):
        pass
    return [h for h in homes if h]


def default_users(environ: dict[str, str] | None = None) -> list[str]:
    """The user's login names: from the environment (as getpass reads them) and the password database."""
    env = os.environ if environ is None else environ
    users = {env.get(v, "") for v in ("LOGNAME", "USER", "LNAME", "USERNAME")}
    try:
        import pwd

        users.add(pwd.getpwuid(os.getuid()).pw_name)
    except (ImportError, KeyError, OSError):
        pass
    return [u for u in users if u]


class Redactor:
    """Removes what identifies the machine and its user from strings and documents."""

    def __init__(self, homes: Iterable[str] | None = None, users: Iterable[str] | None = None):
        forms: set[str] = set()
        for h in default_homes() if homes is None else homes:
            for form in (h, os.path.realpath(h) if os.path.isabs(h) else h):
                form = form.rstrip("/")
                if form:  # never "/" itself
                    forms.add(form)
        self.homes = sorted(forms, key=len, reverse=True)
        self.users = sorted({u for u in (default_users() if users is None else users) if u and u.strip()},
                            key=len, reverse=True)
        self._home_re = [re.compile(r"(?<![\w.-])" + re.escape(h) + r"(?![\w.-])") for h in self.homes]
        self._user_re = []
        for u in self.users:
            e = re.escape(u)
            # a whole path component: /scratch/ann/x, /home/other-mount/ann
            self._user_re.append(re.compile(r"(?<=[/\\])" + e + r"(?=[/\\]|$|[^\w.-])"))
            if len(u) >= WORD_MIN:
                # a whole word: ann@host, "owner ann"; never part of another word or name
                self._user_re.append(re.compile(r"(?<![\w.@/\\<-])" + e + r"(?![\w-]|>)"))

    def text(self, s: str) -> str:
        s = _URL_CREDENTIALS.sub(SECRET + "@", s)
        s = _ASSIGN.sub(self._assign, s)
        s = _PAIR.sub(lambda m: f"{m[1]}{m[2]}{m[1]}{m[3]}{SECRET!r}" if looks_secret(m[2]) else m[0], s)
        s = _DEVICE_ID.sub(UUID, s)
        s = _BARE_UUID.sub(UUID, s)
        for r in self._home_re:
            s = r.sub("~", s)
        for r in self._user_re:
            s = r.sub(USER, s)
        return s

    @staticmethod
    def _assign(m: re.Match, depth: int = 0) -> str:
        """NAME=value: the value goes when NAME looks secret; else a secret assigned inside the
        value (`LD_LIBRARY_PATH=/opt/x?token=...`, `URL=...&password=...`) goes."""
        if looks_secret(m[1]) and m[2]:
            return f"{m[1]}={SECRET}"
        if depth < 3 and "=" in m[2]:
            return f"{m[1]}=" + _INNER_ASSIGN.sub(lambda i: Redactor._assign(i, depth + 1), m[2])
        return m[0]

    def doc(self, obj: Any) -> Any:
        """The same document with every string (dictionary keys too) redacted."""
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, dict):
            out = {}
            for k, v in obj.items():
                key = self.text(k) if isinstance(k, str) else k
                if isinstance(k, str) and looks_secret(k) and isinstance(v, (str, int, float, list, tuple)) \
                        and not isinstance(v, bool) and v not in ("", [], ()):
                    out[key] = SECRET
                else:
                    out[key] = self.doc(v)
            return out
        if isinstance(obj, (list, tuple)):
            return [self.doc(x) for x in obj]
        return obj
