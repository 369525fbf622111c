"""Which machine a JSON document came from: its host name and a fingerprint of its hardware and OS.

Every `--json` document carries them (`render.output.envelope`), so that `kbackend fleet merge`
can tell nodes apart and see two nodes that should be alike but are not. Cheap by design: a
few small files read once per process (/proc/cpuinfo's first processor, /etc/os-release, the
NVIDIA driver's /proc files), nothing imported but the standard library's light modules, and
only when a document is printed.

>>> fp = fingerprint()
>>> sorted(fp) == sorted(FIELDS + ("hash",)) and len(fp["hash"]) == 16
True
>>> fingerprint() is fingerprint()  # read once per process
True
"""

from __future__ import annotations

import functools
import os

#: what the hash covers, in this order (a change of any of them is another machine).
FIELDS = ("cpu", "cores", "arch", "os", "kernel", "gpus", "driver")

#: environment variables naming the node a document is for, when the scheduler's name is not the
#: host name (several slurmd on one host, a Kubernetes node name given to a pod): first one set wins.
NODE_VARS = ("KBACKEND_NODE", "SLURMD_NODENAME")


def hostname() -> str:
    """socket.gethostname() without importing socket (tens of ms): uname's nodename is the same on POSIX."""
    try:
        return os.uname().nodename or "unknown"
    except AttributeError:  # Windows
        import socket

        try:
            return socket.gethostname() or "unknown"
        except OSError:
            return "unknown"


def node_name(environ=None) -> str | None:
    """The scheduler's name for this node when one is set (KBACKEND_NODE, then SLURMD_NODENAME)."""
    env = os.environ if environ is None else environ
    for var in NODE_VARS:
        v = (env.get(var) or "").strip()
        if v:
            return v
    return None


def read_text(path: str, limit: int = 1 << 16) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read(limit)
    except OSError:
        return ""


def cpu_model(text: str) -> str:
    """The first processor's model from /proc/cpuinfo text (x86 "model name", ARM "Model"/"CPU part")."""
    keys = ("model name", "Model", "cpu model", "Processor", "CPU part")
    found: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if found:
                break  # the first processor's block is enough
            continue
        k, sep, v = line.partition(":")
        if sep and k.strip() in keys and k.strip() not in found:
            found[k.strip()] = " ".join(v.split())
    for k in keys:
        if found.get(k):
            return found[k]
    return ""


def _os_name() -> str:
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        for line in read_text(path).splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    return os.uname().sysname if hasattr(os, "uname") else os.name


def _nvidia() -> tuple[list[str], str | None]:
    """(GPU models, driver version) from the NVIDIA kernel module's /proc files; ([], None) without one."""
    text = read_text("/proc/driver/nvidia/version", 4096)
    driver = None
    for word in text.split():
        parts = word.split(".")
        if len(parts) >= 2 and all(p.isdigit() for p in parts):
            driver = word
            break
    gpus = []
    root = "/proc/driver/nvidia/gpus"
    try:
        entries = sorted(os.listdir(root))
    except OSError:
        entries = []
    for e in entries:
        for line in read_text(os.path.join(root, e, "information"), 4096).splitlines():
            if line.startswith("Model:"):
                gpus.append(" ".join(line.split(":", 1)[1].split()))
                break
    return gpus, driver


@functools.lru_cache(maxsize=1)
def fingerprint() -> dict:
    """{"hash", "cpu", "cores", "arch", "os", "kernel", "gpus", "driver"} of this machine (read once)."""
    import hashlib
    import json

    try:
        uname = os.uname()
        kernel, arch = uname.release, uname.machine
    except AttributeError:
        kernel, arch = "", ""
    gpus, driver = _nvidia()
    facts = {
        "cpu": cpu_model(read_text("/proc/cpuinfo")),
        "cores": os.cpu_count() or 0,
        "arch": arch,
        "os": _os_name(),
        "kernel": kernel,
        "gpus": gpus,
        "driver": driver,
    }
    blob = json.dumps([facts[k] for k in FIELDS], separators=(",", ":"))
    return {"hash": hashlib.sha256(blob.encode()).hexdigest()[:16], **facts}
