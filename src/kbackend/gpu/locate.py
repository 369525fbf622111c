"""Where the CUDA libraries are: file names only, nothing is loaded here.

Looks, in this order, at what this process has already mapped, pip wheels on the
target's sys.path (`nvidia/<lib>/lib`, CUDA 13's `nvidia/cu13/lib`, old torch
wheels' `torch/lib`), `$CONDA_PREFIX/lib`, `LD_LIBRARY_PATH`, the `ldconfig -p`
cache, `CUDA_HOME`/`CUDA_PATH`, `/usr/local/cuda*` and WSL's `/usr/lib/wsl/lib`.
A file reached twice (a symlinked folder) is reported once, under the first
source. `loader_pick` marks the file a plain `dlopen(soname)` would open:
`LD_LIBRARY_PATH` first, then the ldconfig cache, then the default folders.

>>> soname_for("cudart", "libcudart.so.12.4.127"), soname_for("cudart", "libcudart.so.11.8.89")
('libcudart.so.12', 'libcudart.so.11.0')
>>> parse_ldconfig("\\tlibcuda.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libcuda.so.1\\n")
[('libcuda.so.1', '/usr/lib/x86_64-linux-gnu/libcuda.so.1')]
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
from typing import Iterable, Iterator, Mapping, Sequence

from kbackend._record import field, record
from kbackend.gpu.model import LibraryFile

#: file names per library kind: the soname, the versioned file, the dev symlink.
PATTERNS = {
    "cuda": re.compile(r"^libcuda\.so(\.\d+)*$"),
    # torch wheels before 2.1 bundled the runtime as torch/lib/libcudart-<hash>.so.12
    "cudart": re.compile(r"^libcudart(-[0-9a-f]{8})?\.so(\.\d+)*$"),
    "cudnn": re.compile(r"^libcudnn(-[0-9a-f]{8})?\.so(\.\d+)*$"),
    "nvml": re.compile(r"^libnvidia-ml\.so(\.\d+)*$"),
}
BASENAME = {"cuda": "libcuda", "cudart": "libcudart", "cudnn": "libcudnn", "nvml": "libnvidia-ml"}
#: the pip distribution of a wheel's folder: nvidia/<folder>/lib.
_PIP_DIST = re.compile(r"^nvidia-(cuda-runtime|cudnn)(-cu\d+)?$")
_DEFAULT_DIRS = ("/lib64", "/usr/lib64", "/lib", "/usr/lib")


@record
class SystemPaths:
    """The fixed places the probe reads; tests point them at a temporary tree."""

    proc_driver_version: str = "/proc/driver/nvidia/version"
    proc_maps: str = "/proc/self/maps"
    proc_version: str = "/proc/version"
    usr_local: str = "/usr/local"
    wsl_lib: str = "/usr/lib/wsl/lib"
    dxg: str = "/dev/dxg"
    #: None: `ldconfig` on PATH, else /sbin/ldconfig; "" disables the cache lookup.
    ldconfig: str | None = None
    default_dirs: tuple[str, ...] = _DEFAULT_DIRS


@record(frozen=False)
class Found:
    """Every library file found, by kind, plus what the look-up itself could not do."""

    files: dict[str, list[LibraryFile]] = field(default_factory=lambda: {k: [] for k in PATTERNS})
    ldconfig: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def any(self) -> bool:
        return any(self.files.values())


def _version_of(name: str) -> tuple[int, ...]:
    tail = name.split(".so", 1)[1].lstrip(".") if ".so" in name else ""
    return tuple(int(p) for p in tail.split(".") if p.isdigit()) if tail else ()


def soname_for(kind: str, name: str) -> str:
    """The soname a file of this kind answers to, from its (longest) file name."""
    base = BASENAME[kind]
    v = _version_of(name)
    if kind in ("cuda", "nvml"):
        return base + ".so.1"
    if not v:
        return base + ".so"
    if kind == "cudart" and v[0] == 11:
        return base + ".so.11.0"  # every CUDA 11.x runtime answers to libcudart.so.11.0
    if kind == "cudart" and v[0] < 11:
        return "%s.so.%d.%d" % (base, v[0], v[1] if len(v) > 1 else 0)
    return "%s.so.%d" % (base, v[0])


def version_from_name(kind: str, name: str) -> str | None:
    """libcudnn.so.8.9.2 -> 8.9.2, libnvidia-ml.so.535.104.05 -> 535.104.05; None for a bare soname."""
    tail = name.split(".so.", 1)[1] if ".so." in name else ""
    parts = tail.split(".")
    if not tail or not all(p.isdigit() for p in parts):
        return None
    return tail if len(parts) >= (3 if kind in ("cudart", "cudnn") else 2) else None


def parse_ldconfig(text: str) -> list[tuple[str, str]]:
    """(name, path) pairs of `ldconfig -p`, 64-bit entries only on a 64-bit Python."""
    out = []
    want64 = sys.maxsize > 2**32
    for line in text.splitlines():
        m = re.match(r"^\s*(\S+)\s+\(([^)]*)\)\s+=>\s+(\S.*?)\s*$", line)
        if not m:
            continue
        name, tags, path = m.groups()
        if want64 and "64" not in tags:  # (libc6) alone is a 32-bit library
            continue
        out.append((name, path))
    return out


def run_ldconfig(paths: SystemPaths, errors: list[str]) -> list[tuple[str, str]]:
    exe = paths.ldconfig
    if exe == "":
        return []
    if exe is None:
        exe = shutil.which("ldconfig") or ("/sbin/ldconfig" if os.path.exists("/sbin/ldconfig") else None)
    if exe is None:
        return []
    try:
        from kbackend import _procs

        p = _procs.run([exe, "-p"], capture_output=True, text=True, timeout=5, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        errors.append(f"ldconfig -p failed: {e}")
        return []
    return parse_ldconfig(p.stdout)


def _listdir(d: str) -> list[str]:
    try:
        return sorted(os.listdir(d))
    except OSError:
        return []


def _realpath(p: str) -> str:
    try:
        return os.path.realpath(p)
    except OSError:
        return p


def pip_dirs(sys_path: Sequence[str]) -> list[tuple[str, str | None]]:
    """(lib folder, owning wheel "name version") for every nvidia wheel and old torch/lib on sys_path."""
    from kbackend.envs.installed import scan

    out: list[tuple[str, str | None]] = []
    for entry in sys_path:
        nv = os.path.join(entry, "nvidia")
        subs = _listdir(nv)
        torch_lib = os.path.join(entry, "torch", "lib")
        if not subs and not os.path.isdir(torch_lib):
            continue
        wheels = {k: f"{d.name} {d.version}" for k, d in scan([entry]).items() if _PIP_DIST.match(k)}
        for sub in subs:
            lib = os.path.join(nv, sub, "lib")
            if os.path.isdir(lib):
                owner = None
                if sub == "cudnn":
                    owner = next((v for k, v in wheels.items() if k.startswith("nvidia-cudnn")), None)
                elif sub in ("cuda_runtime", "cu13"):
                    owner = next((v for k, v in wheels.items() if k.startswith("nvidia-cuda-runtime")), None)
                out.append((lib, owner))
        if os.path.isdir(torch_lib):
            out.append((torch_lib, None))
    return out


def _dirs_under(root: str) -> list[str]:
    """A CUDA toolkit's library folders, the stubs included."""
    out = []
    for rel in ("lib64", "lib", "lib64/stubs", "lib/stubs"):
        out.append(os.path.join(root, rel))
    out.extend(sorted(glob.glob(os.path.join(root, "targets", "*", "lib"))))
    out.extend(sorted(glob.glob(os.path.join(root, "targets", "*", "lib", "stubs"))))
    return out


def _files_in(d: str) -> list[tuple[str, str]]:
    """(kind, path) of the CUDA library files in a folder."""
    return [(_kind_of(n), os.path.join(d, n)) for n in _listdir(d) if _kind_of(n)]


def candidates(  # noqa: C901 - one branch per place a library comes from, in the loader's order
    environ: Mapping[str, str], sys_path: Sequence[str], paths: SystemPaths, ldconfig: Sequence[tuple[str, str]]
) -> Iterator[tuple[str, str, str, str | None]]:
    """(kind, file, source, wheel) for every library file, sources in the order of SOURCES."""
    for p in loaded_libraries(paths):
        yield _kind_of(os.path.basename(p)), p, "loaded", None
    for d, wheel in pip_dirs(sys_path):
        for kind, f in _files_in(d):
            yield kind, f, "pip", wheel
    conda = environ.get("CONDA_PREFIX")
    if conda:
        for d in (os.path.join(conda, "lib"), os.path.join(conda, "lib", "stubs")):
            for kind, f in _files_in(d):
                yield kind, f, "conda", None
    for d in (environ.get("LD_LIBRARY_PATH") or "").split(":"):
        for kind, f in _files_in(d) if d else ():
            yield kind, f, "ld_library_path", None
    for name, path in ldconfig:
        if _kind_of(name):
            yield _kind_of(name), path, "ldconfig", None
    for var in ("CUDA_HOME", "CUDA_PATH"):
        for d in _dirs_under(environ[var]) if environ.get(var) else ():
            for kind, f in _files_in(d):
                yield kind, f, "cuda_home", None
    for root in sorted(glob.glob(os.path.join(paths.usr_local, "cuda*"))):
        for d in _dirs_under(root):
            for kind, f in _files_in(d):
                yield kind, f, "usr_local", None
    for kind, f in _files_in(paths.wsl_lib):
        yield kind, f, "wsl", None


def loaded_libraries(paths: SystemPaths) -> list[str]:
    """CUDA libraries this process has mapped already (a parent that imported torch, say)."""
    try:
        with open(paths.proc_maps) as f:
            text = f.read()
    except OSError:
        return []
    seen: list[str] = []
    for line in text.splitlines():
        if "libcud" not in line and "libnvidia-ml" not in line:
            continue
        parts = line.split(None, 5)
        p = parts[5].strip() if len(parts) == 6 else ""
        if p.startswith("/") and _kind_of(os.path.basename(p)) and p not in seen:
            seen.append(p)
    return seen


def locate(
    environ: Mapping[str, str], sys_path: Sequence[str], paths: SystemPaths | None = None
) -> Found:
    """Every CUDA driver, runtime, cuDNN and NVML library file visible from here."""
    paths = paths or SystemPaths()
    found = Found()
    groups: dict[str, dict] = {}  # realpath -> {kind, paths, source, wheel}

    def add(kind: str, path: str, source: str, wheel: str | None) -> None:
        g = groups.setdefault(_realpath(path), {"kind": kind, "paths": [], "source": source, "wheel": wheel})
        g["paths"].append(path)

    ldconfig = run_ldconfig(paths, found.errors)
    for name, path in ldconfig:
        if _kind_of(name):
            found.ldconfig.setdefault(name, path)
    for kind, path, source, wheel in candidates(environ, sys_path, paths, ldconfig):
        add(kind, path, source, wheel)

    for real, g in groups.items():
        kind, wheel = g["kind"], g["wheel"]
        names = [os.path.basename(p) for p in g["paths"]] + [os.path.basename(real)]
        longest = max(names, key=lambda n: len(_version_of(n)))
        soname = soname_for(kind, longest)
        # Show the soname (libcudnn.so.9) rather than the dev symlink or the fully versioned file.
        shown = next((p for p in g["paths"] if os.path.basename(p) == soname), g["paths"][0])
        version, vfrom = version_from_name(kind, longest), "file_name"
        if version is None and wheel:
            version, vfrom = wheel.split(" ", 1)[1], "wheel"
        found.files[kind].append(
            LibraryFile(kind=kind, path=shown, source=g["source"], soname=soname, realpath=real,
                        version=version, version_from=vfrom if version else None, wheel=wheel)
        )
    _mark_loader_picks(found, environ, paths)
    return found


def _kind_of(name: str) -> str | None:
    for kind, rx in PATTERNS.items():
        if rx.match(name):
            return kind
    return None


def loader_pick(soname: str, environ: Mapping[str, str], ldconfig: Mapping[str, str],
                default_dirs: Iterable[str] = _DEFAULT_DIRS) -> str | None:
    """The file a plain dlopen(soname) opens: LD_LIBRARY_PATH, the ldconfig cache, the default folders."""
    for d in (environ.get("LD_LIBRARY_PATH") or "").split(":"):
        if d and os.path.exists(os.path.join(d, soname)):
            return _realpath(os.path.join(d, soname))
    if soname in ldconfig:
        return _realpath(ldconfig[soname])
    for d in default_dirs:
        if os.path.exists(os.path.join(d, soname)):
            return _realpath(os.path.join(d, soname))
    return None


def _mark_loader_picks(found: Found, environ: Mapping[str, str], paths: SystemPaths) -> None:
    for kind, files in found.files.items():
        picks = {}
        for f in files:
            if f.soname not in picks:
                picks[f.soname] = loader_pick(f.soname, environ, found.ldconfig, paths.default_dirs)
        found.files[kind] = [
            f.model_copy(update={"loader_pick": True}) if picks.get(f.soname) == f.realpath else f for f in files
        ]
