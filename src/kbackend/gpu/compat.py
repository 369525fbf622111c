"""Pure compatibility logic: driver vs CUDA runtime, cuDNN, compute capability, visible devices.

Facts in, verdicts out; no I/O. Every version comparison goes through `packaging`.
Sources: NVIDIA's CUDA release notes (table 3, minimum driver per toolkit, and
minor-version compatibility), torch's `torch/cuda/__init__.py`
(`_parse_visible_devices`, `_code_compatible_with_device`) and
`torch/backends/cudnn/__init__.py`, TensorFlow's tested build configurations,
jax's `jax_plugins/cuda/__init__.py` and `jaxlib/xla_client.py`.

>>> min_driver("12.4")
('550.54.14', True)
>>> driver_verdict("12.4", "535.104.05", "12.2").status
'warn'
>>> driver_verdict("12.4", "470.82.01", "11.4").status
'error'
>>> runs_on(["sm_80", "sm_90"], "8.6"), runs_on(["sm_80"], "7.5"), runs_on(["compute_80"], "9.0")
(True, False, True)
>>> visible_ordinals("0,0", count=2)
[]
>>> cudnn_from_int(90100), cudnn_from_int(8902)
('9.1.0', '8.9.2')
"""

from __future__ import annotations

import re
import sys
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from kbackend._record import record
from kbackend.gpu.model import WheelCuda

if TYPE_CHECKING:
    from packaging.requirements import Requirement

#: Minimum Linux driver per CUDA toolkit (GA releases; CUDA release notes, table 3).
DRIVER_TABLE: dict[str, str] = {
    "11.0": "450.51.05",
    "11.1": "455.23",
    "11.2": "460.27.03",
    "11.3": "465.19.01",
    "11.4": "470.42.01",
    "11.5": "495.29.05",
    "11.6": "510.39.01",
    "11.7": "515.43.04",
    "11.8": "520.61.05",
    "12.0": "525.60.13",
    "12.1": "530.30.02",
    "12.2": "535.54.03",
    "12.3": "545.23.06",
    "12.4": "550.54.14",
    "12.5": "555.42.02",
    "12.6": "560.28.03",
    "12.8": "570.26",
    "12.9": "575.51.03",
    "13.0": "580.65.06",
    "13.1": "590.44.01",
}
#: Minor-version compatibility: any runtime of this major runs on a driver at least this new.
MINOR_COMPAT: dict[int, str] = {11: "450.80.02", 12: "525.60.13", 13: "580.65.06"}
#: The lowest compute capability each CUDA major still compiles for.
CC_FLOOR: dict[int, str] = {11: "3.5", 12: "5.0", 13: "7.5"}
#: Integrated GPUs (Jetson): binary code of their major's other parts does not run on them.
IGPU_CC = frozenset({53, 62, 72, 87, 101})

#: torch's default (PyPI, Linux) builds: version range, CUDA, cuDNN it was built with.
TORCH_TABLE: tuple[tuple[str, str, str], ...] = (
    (">=2.11", "13.0", "9.19"),
    (">=2.8,<2.11", "12.8", "9.10"),
    ("==2.7.*", "12.6", "9"),
    (">=2.5,<2.7", "12.4", "9.1"),
    ("==2.4.*", "12.1", "9.1"),
    (">=2.1,<2.4", "12.1", "8.9"),
    ("==2.0.*", "11.7", "8.5"),
)
#: TensorFlow's tested build configurations (Linux GPU): version range, CUDA, cuDNN.
TF_TABLE: tuple[tuple[str, str, str], ...] = (
    (">=2.18", "12.5", "9.3"),
    (">=2.16,<2.18", "12.3", "8.9"),
    ("==2.15.*", "12.2", "8.9"),
    ("==2.14.*", "11.8", "8.7"),
    (">=2.12,<2.14", "11.8", "8.6"),
    (">=2.5,<2.12", "11.2", "8.1"),
    ("==2.4.*", "11.0", "8.0"),
    (">=2.1,<2.4", "10.1", "7.6"),
)
TF_CUDA_DISTS = ("tensorflow", "tensorflow-gpu", "tf-nightly", "tf-nightly-gpu")
TF_CPU_DISTS = ("tensorflow-cpu", "tensorflow-intel", "tensorflow-macos", "tf-nightly-cpu", "intel-tensorflow")
#: frameworks whose import always reports the CUDA they were built with (None: a CPU build).
BUILD_REPORTED = ("torch", "tensorflow")
JAX_PLUGINS = ("jax-cuda13-plugin", "jax-cuda12-plugin", "jax-cuda11-plugin")
#: the oldest CUDA runtime each jax plugin accepts (jax_plugins/cuda/__init__.py).
JAX_MIN_RUNTIME = {11: "11.8", 12: "12.1", 13: "13.0"}
_RUNTIME_DIST = re.compile(r"^nvidia-cuda-runtime(-cu\d+)?$")
_CUDNN_DIST = re.compile(r"^nvidia-cudnn-cu\d+$")


# -- versions ------------------------------------------------------------------------------------


def version(s: str | None) -> Version | None:
    """A packaging Version, or None for anything that is not one."""
    if s is None:
        return None
    try:
        return Version(str(s).strip())
    except InvalidVersion:
        return None


def major_minor(s: str | None) -> tuple[int, int] | None:
    """'12.4.127' -> (12, 4); '12' -> (12, 0); None when unreadable."""
    v = version(s)
    if v is None:
        return None
    rel = v.release + (0,)
    return rel[0], rel[1]


def _mm(t: tuple[int, int] | None) -> str | None:
    return None if t is None else f"{t[0]}.{t[1]}"


def cudnn_from_int(v: int) -> str | None:
    """cudnnGetVersion: M*10000 + m*100 + p for cuDNN 9 and later, M*1000 + m*100 + p before."""
    if not v or v <= 0:
        return None
    if v >= 90000:
        return f"{v // 10000}.{(v % 10000) // 100}.{v % 100}"
    return f"{v // 1000}.{(v % 1000) // 100}.{v % 100}"


# -- driver --------------------------------------------------------------------------------------


def min_driver(cuda: str | None) -> tuple[str | None, bool]:
    """The minimum driver for a CUDA toolkit, and whether the table has that exact release.

    For a release the table lacks (12.7, 13.2), the newest lower release of the same major
    gives a lower bound (exact=False)."""
    mm = major_minor(cuda)
    if mm is None:
        return None, False
    key = _mm(mm)
    if key in DRIVER_TABLE:
        return DRIVER_TABLE[key], True
    lower = [k for k in DRIVER_TABLE if major_minor(k)[0] == mm[0] and major_minor(k) < mm]
    if not lower:
        return None, False
    return DRIVER_TABLE[max(lower, key=major_minor)], False


def cuda_for_driver(driver: str | None) -> str | None:
    """The newest CUDA toolkit a driver supports, by the table ("535.104.05" -> "12.2")."""
    d = version(driver)
    if d is None:
        return None
    ok = [k for k, v in DRIVER_TABLE.items() if Version(v) <= d]
    return max(ok, key=major_minor) if ok else None


@record
class Verdict:
    status: str  # ok, warn, error, unknown
    reason: str
    #: the driver that would make it plainly ok.
    needed_driver: str | None = None


def driver_verdict(runtime: str | None, driver: str | None, driver_cuda: str | None) -> Verdict:
    """Can a CUDA runtime run on this driver? ok, warn (minor-version compatibility only) or error."""
    r = major_minor(runtime)
    if r is None:
        return Verdict("unknown", "the CUDA runtime version is unknown")
    dc = major_minor(driver_cuda) or major_minor(cuda_for_driver(driver))
    dv = version(driver) or version(min_driver(driver_cuda)[0])
    need, exact = min_driver(runtime)
    need_s = need if exact else (f"newer than {need}" if need else None)
    if dc is None and dv is None:
        return Verdict("unknown", "the driver's version is unknown", need)
    if dc is not None and r <= dc:
        return Verdict("ok", f"the driver supports CUDA {_mm(dc)} >= {_mm(r)}", need)
    floor = MINOR_COMPAT.get(r[0])
    same_major = dc is None or dc[0] == r[0]
    if floor and dv is not None and dv >= Version(floor) and same_major:
        return Verdict(
            "warn",
            f"CUDA {_mm(r)} is newer than the driver's CUDA {_mm(dc) if dc else '?'}; it runs only through "
            f"minor-version compatibility (driver >= {floor}), and PTX or features newer than the driver fail "
            f"(CUDA_ERROR_UNSUPPORTED_PTX_VERSION)",
            need,
        )
    return Verdict(
        "error",
        f"the driver supports CUDA {_mm(dc) if dc else '?'} but CUDA {_mm(r)} needs driver >= {need_s or floor or '?'}",
        need or floor,
    )


# -- compute capability --------------------------------------------------------------------------


def cc_int(cc: str | None) -> int | None:
    """'8.6' -> 86, '12.0' -> 120."""
    mm = major_minor(cc)
    return None if mm is None else 10 * mm[0] + mm[1]


def arch_runs_on(arch: str, cc: str) -> bool:
    """Whether code for `arch` (sm_80, sm_90a, compute_90) runs on a GPU of compute capability `cc`.

    Binary code (sm_XY) runs on the same major with minor >= Y, except on integrated parts;
    arch-specific code (sm_90a) only on that exact part; PTX (compute_XY) is JIT-compiled on any
    GPU of capability >= XY."""
    m = re.match(r"^(sm|compute)_(\d+)([af]?)$", arch.strip())
    dev = cc_int(cc)
    if not m or dev is None:
        return False
    kind, code, suffix = m.group(1), int(m.group(2)), m.group(3)
    if kind == "compute":
        return dev >= code
    if suffix == "a" or dev in IGPU_CC or code in IGPU_CC:
        return dev == code or (code == 101 and dev == 110)
    return dev // 10 == code // 10 and dev >= code


def runs_on(archs: Sequence[str], cc: str) -> bool | None:
    """Whether any of a build's architectures runs on `cc`; None when the list is unknown."""
    archs = [a for a in archs if a]
    if not archs:
        return None
    return any(arch_runs_on(a, cc) for a in archs)


def cc_floor(cuda: str | None) -> str | None:
    """The lowest compute capability a CUDA major supports (13 drops everything below 7.5)."""
    mm = major_minor(cuda)
    return None if mm is None else CC_FLOOR.get(mm[0])


# -- cuDNN ---------------------------------------------------------------------------------------


@record
class CudnnNeed:
    """What a build needs from cuDNN: this major, and a minor at least `minimum`'s (when known)."""

    major: int
    minimum: str | None = None
    source: str = "table"

    def accepts(self, found: str | None) -> bool | None:
        f = major_minor(found)
        if f is None:
            return None
        if f[0] != self.major:
            return False
        m = major_minor(self.minimum)
        return True if m is None else f >= m

    def describe(self) -> str:
        return f"cuDNN {self.minimum}+ (major {self.major})" if self.minimum else f"cuDNN {self.major}.x"


def cudnn_need(built: str | None = None, spec: str | None = None, source: str = "probe") -> CudnnNeed | None:
    """From a build version ("9.1.0", "9", 90100) or a requirement specifier ("==9.1.0.70", ">=9.8,<10")."""
    if built is not None:
        b = str(built).strip()
        if b.isdigit() and int(b) >= 1000:
            b = cudnn_from_int(int(b)) or b
        v = version(b)
        if v is not None:
            rel = v.release
            return CudnnNeed(rel[0], f"{rel[0]}.{rel[1]}" if len(rel) > 1 else None, source)
    if spec:
        try:
            ss = SpecifierSet(spec)
        except InvalidSpecifier:
            return None
        for s in ss:
            if s.operator in ("==", "===", ">=", "~=", ">"):
                rel = version(s.version.rstrip(".*"))
                if rel is not None:
                    r = rel.release
                    return CudnnNeed(r[0], f"{r[0]}.{r[1]}" if len(r) > 1 else None, "requires")
    return None


# -- visible devices -----------------------------------------------------------------------------


def parse_visible_devices(value: str | None) -> list[int] | list[str] | None:
    """torch's `_parse_visible_devices` (the CUDA driver's own rules); None when unset.

    Ordinals are read like strtoul ("1gpu" is 1); a negative or unreadable entry ends
    the list; a repeated entry empties it; UUID lists ("GPU-", "MIG-") stop at the first
    entry without the prefix."""
    if value is None:
        return None

    def strtoul(s: str) -> int:
        m = re.match(r"^[+-]?\d+", s)
        return int(m.group(0)) if m else -1

    for prefix in ("GPU-", "MIG-"):
        if value.startswith(prefix):
            out: list[str] = []
            for elem in value.split(","):
                if elem in out:
                    return []
                if not elem.startswith(prefix):
                    break
                out.append(elem)
            return out
    rc: list[int] = []
    for elem in value.split(","):
        x = strtoul(elem.strip())
        if x in rc:
            return []
        if x < 0:
            break
        rc.append(x)
    return rc


def visible_ordinals(value: str | None, *, count: int | None = None, uuids: Sequence[str] = ()) -> list[int] | None:
    """The physical GPUs a framework will see, after truncation at the first absent device.

    None: unknown (a MIG list, or UUIDs without the GPUs' UUIDs)."""
    parsed = parse_visible_devices(value)
    if parsed is None:
        return None if count is None else list(range(count))
    if not parsed:
        return []
    if isinstance(parsed[0], str):
        if parsed[0].startswith("MIG-") or not uuids:
            return None
        out: list[int] = []
        for cand in parsed:
            hits = [i for i, u in enumerate(uuids) if u.startswith(cand)]
            if len(hits) != 1:
                break
            if hits[0] in out:
                return []
            out.append(hits[0])
        return out
    if count is None:
        return list(parsed)
    out = []
    for x in parsed:
        if x >= count:
            break
        out.append(x)
    return out


# -- JAX -----------------------------------------------------------------------------------------


def jax_preallocates(environ: Mapping[str, str]) -> tuple[bool, str]:
    """Whether JAX grabs a fraction of GPU memory at start, and which fraction (jaxlib/xla_client.py)."""
    allocator = environ.get("XLA_PYTHON_CLIENT_ALLOCATOR", "default").lower()
    fraction = environ.get("XLA_CLIENT_MEM_FRACTION") or environ.get("XLA_PYTHON_CLIENT_MEM_FRACTION") or "0.75"
    pre = environ.get("XLA_PYTHON_CLIENT_PREALLOCATE", "")
    if allocator == "platform" or pre in ("false", "False", "0"):
        return False, fraction
    return True, fraction


# -- what a wheel was built with -----------------------------------------------------------------


def _in(spec: str, v: str) -> bool:
    pv = version(v)
    return pv is not None and Version(pv.public) in SpecifierSet(spec, prereleases=True)


def _table(table: Sequence[tuple[str, str, str]], v: str) -> tuple[str, str] | None:
    for spec, cuda, cudnn in table:
        if _in(spec, v):
            return cuda, cudnn
    return None


def cuda_from_local(v: str) -> tuple[str | None, str | None, bool | None]:
    """(cuda, cudnn, is_cuda_build) from a local version: +cu124, +cpu, +rocm6.2, +cuda12.cudnn89."""
    pv = version(v)
    local = (pv.local or "") if pv else ""
    if re.match(r"^cu\d{3,}$", local):
        d = local[2:]
        return f"{d[:-1]}.{d[-1]}", None, True
    m = re.match(r"^cuda(\d+)(?:\.cudnn(\d)(\d+))?", local)
    if m:
        return m.group(1), (f"{m.group(2)}.{m.group(3)}" if m.group(2) else None), True
    if local.startswith(("cpu", "rocm")):
        return None, None, False
    return None, None, None


def applicable(requires: Iterable[str]) -> list[Requirement]:
    """The nvidia-* requirements that apply on this machine, extras ([and-cuda], [cuda12]) included."""
    # packaging's markers and requirements cost ~25 ms to import: only doctor's wheel checks need them,
    # not the install advice that also reads this module's tables (`kbackend envs`, `switch`).
    from packaging.markers import Marker
    from packaging.requirements import InvalidRequirement, Requirement

    out = []
    for line in requires:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if not req.name.lower().replace("_", "-").startswith("nvidia-"):
            continue
        if req.marker is not None:
            m = re.search(r"extra\s*==\s*['\"]([^'\"]+)['\"]", str(req.marker))
            try:
                if not Marker(str(req.marker)).evaluate({"extra": m.group(1) if m else ""}):
                    continue
            except Exception:  # noqa: BLE001 - an exotic marker: keep the requirement
                pass
        out.append(req)
    return out


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _from_requires(reqs: Sequence[Requirement], installed: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(cuda, cudnn specifier) from a build's nvidia-* requirements and the installed nvidia wheels."""
    cuda = cudnn = None
    for r in reqs:
        name = _norm(r.name)
        pins = [s.version for s in r.specifier if s.operator in ("==", "===")]
        if _RUNTIME_DIST.match(name):
            if pins:
                cuda = _mm(major_minor(pins[0].rstrip(".*")))
            elif name in installed and (not r.specifier or r.specifier.contains(installed[name], prereleases=True)):
                cuda = _mm(major_minor(installed[name]))
            else:
                lows = [s.version for s in r.specifier if s.operator in (">=", "~=")]
                m = re.search(r"-cu(\d+)$", name)
                cuda = _mm(major_minor(lows[0])) if lows else (f"{m.group(1)}.0" if m else None)
        elif _CUDNN_DIST.match(name):
            cudnn = str(r.specifier) or None
            if cudnn is None and name in installed:
                cudnn = f"=={installed[name]}"
    return cuda, cudnn


def wheel_cuda(
    framework: str,
    dist: str,
    ver: str,
    requires: Sequence[str],
    installed: Mapping[str, str],
    platform: str = sys.platform,
) -> WheelCuda:
    """What CUDA (and cuDNN) an installed framework distribution needs, from metadata alone.

    >>> wheel_cuda("torch", "torch", "2.6.0+cu124", [], {}).cuda
    '12.4'
    >>> wheel_cuda("torch", "torch", "2.6.0+cpu", [], {}).cuda_build
    False
    >>> wheel_cuda("jax", "jax-cuda12-plugin", "0.6.0", [], {"nvidia-cuda-runtime-cu12": "12.9.79"}).cuda
    '12.9'
    """
    dist = _norm(dist)
    reqs = applicable(requires)
    r_cuda, cudnn = _from_requires(reqs, installed)
    l_cuda, l_cudnn, l_build = cuda_from_local(ver)
    cuda, src, table = None, None, None
    if l_cuda:
        cuda, src = l_cuda, "local_version"
    elif r_cuda:
        cuda, src = r_cuda, "requires"
    # Requirements behind an extra ([and-cuda]) tell which CUDA, never whether it is a CUDA build.
    plain = [r for r in reqs if r.marker is None or "extra" not in str(r.marker)]
    if framework == "tensorflow":
        build = dist in TF_CUDA_DISTS and platform.startswith("linux") or bool(plain)
        table = _table(TF_TABLE, ver)
    elif framework == "torch":
        build = l_build if l_build is not None else bool(plain)
        table = _table(TORCH_TABLE, ver) if l_build is None else None
    else:  # jax: a jax-cudaNN-plugin, or an old jaxlib+cudaNN
        m = re.search(r"cuda(\d+)", dist)
        build = bool(m or l_build)
        if m and cuda is None:
            major = int(m.group(1))
            runtime = [v for k, v in installed.items()
                       if _RUNTIME_DIST.match(k) and (major_minor(v) or (0,))[0] == major]
            if runtime:
                cuda, src = _mm(major_minor(runtime[0])), "nvidia_wheel"
            else:
                cuda, src = JAX_MIN_RUNTIME.get(major), "table"
    if not build:
        return WheelCuda(framework=framework, dist=dist, version=ver, cuda_build=False,
                         requires=[str(r) for r in reqs])
    if cuda is None and table:
        cuda, src = table[0], "table"
    if table and major_minor(table[0]) != major_minor(cuda):
        table = None  # the release table describes another build (torch 2.9 for CUDA 13, say)
    cudnn = cudnn or (f">={l_cudnn}" if l_cudnn else None) or (f">={table[1]}" if table else None)
    return WheelCuda(framework=framework, dist=dist, version=ver, cuda_build=True, cuda=cuda, cudnn=cudnn,
                     cuda_from=src if cuda else None, requires=[str(r) for r in reqs])


# -- a framework build as the checks see it --------------------------------------------------------


@record
class Build:
    """One installed CUDA build of a framework: the wheel's metadata merged with its probe."""

    framework: str
    label: str
    cuda: str | None
    cuda_from: str | None
    cudnn: CudnnNeed | None
    archs: tuple[str, ...] = ()
    #: frameworks that load the pip wheels' libraries before the loader path (jax preloads them).
    pip_first: bool = False
    #: its backend probe imported it (torch then has loaded its CUDA runtime already).
    imported: bool = False


def builds(wheels: Sequence[WheelCuda], backends: Sequence[Any] = ()) -> list[Build]:
    """The CUDA builds installed, one per framework; a probe that imported the backend wins."""
    probed = {getattr(b, "name", None): b for b in backends if getattr(b, "status", None) == "ok"}
    out: list[Build] = []
    seen = set()
    for w in wheels:
        if w.framework in seen:
            continue
        b = probed.get(w.framework)
        if b is not None and not getattr(b, "built_cuda", None) and w.framework in BUILD_REPORTED:
            continue  # it imported and says it has no CUDA (torch.version.cuda, TF's build info)
        if not w.cuda_build and not (b is not None and getattr(b, "built_cuda", None)):
            continue
        seen.add(w.framework)
        out.append(_merge(w.framework, f"{w.dist} {w.version}", w.cuda, w.cuda_from, w.cudnn, b))
    for name, b in probed.items():
        if name not in seen and getattr(b, "built_cuda", None):
            seen.add(name)
            out.append(_merge(name, f"{name} {getattr(b, 'version', '') or ''}".strip(), None, None, None, b))
    return [b for b in out if b.cuda or b.cudnn or b.archs]


def _merge(fw: str, label: str, cuda: str | None, cuda_from: str | None, cudnn_spec: str | None, b: Any) -> Build:
    need = cudnn_need(spec=cudnn_spec) if cudnn_spec else None
    archs: tuple[str, ...] = ()
    if b is not None:
        # jax runs on whatever runtime >= 12.1 is installed: its pip runtime beats its build's version.
        if getattr(b, "built_cuda", None) and not (fw == "jax" and cuda and cuda_from != "table"):
            cuda, cuda_from = b.built_cuda, "probe"
        probed_need = cudnn_need(getattr(b, "built_cudnn", None))
        if probed_need and not (need and need.major == probed_need.major and not probed_need.minimum):
            need = probed_need
        archs = tuple(getattr(b, "cuda_archs", None) or ())
    return Build(fw, label, _mm(major_minor(cuda)) if cuda else None, cuda_from, need, archs, pip_first=fw == "jax",
                 imported=b is not None)
