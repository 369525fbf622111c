"""Two GPU frameworks in one process: which CUDA libraries it really maps, and the pins that conflict.

"The first framework to load cuDNN wins" (jax#19004, jax#18032): one child
(child/coload_worker.py) imports the installed GPU frameworks in the order the
configuration implies (Keras with the configured backend first, then the others) and
reads /proc/self/maps after each. `pin_conflicts` is the metadata-only side: the
installed nvidia-* wheels against every framework's requirements.

>>> [s["name"] for s in steps(["torch", "jax"], "jax")]
['keras+jax', 'torch']
>>> [s["name"] for s in steps(["torch", "tensorflow"], "numpy")]
['keras+numpy', 'torch', 'tensorflow']
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from kbackend.gpu.model import CoLoad, MappedLib

LIBS = ("libcudart", "libcudnn", "libcublas", "libnccl")
#: the code that makes each framework load its CUDA libraries (an import alone may not: jax and
#: TensorFlow open them when they list their devices, torch opens cuDNN on first use).
TOUCH = {
    "torch": "import torch\ntorch.cuda.is_available() and torch.backends.cudnn.version()\n",
    "jax": "import jax\njax.devices()\n",
    "tensorflow": "import tensorflow as tf\ntf.config.list_physical_devices('GPU')\n",
}
ORDER = ("jax", "torch", "tensorflow")


def steps(frameworks: Sequence[str], configured: object) -> list[dict]:
    """The child's steps: Keras with the configured backend first (and that framework's devices), then the others."""
    first = "import keras\n" + (TOUCH[configured] if configured in TOUCH else "")
    out = [{"name": f"keras+{configured}", "code": first}]
    out += [{"name": fw, "code": TOUCH[fw]} for fw in ORDER if fw in frameworks and fw != configured]
    return out


def run_coload(python: str, plan: Sequence[Mapping], needs: Mapping[str, dict], *, env: Mapping[str, str | None],
               timeout: float = 120.0) -> CoLoad:
    """Run the steps in one child of `python`; never raises."""
    from kbackend.workers.runner import run_worker

    t0 = time.monotonic()
    r = run_worker(python, "coload_worker.py", {"steps": list(plan), "libs": list(LIBS)}, timeout=timeout, env=env)
    d = r.data if isinstance(r.data, dict) else {}
    mapped = [MappedLib(**{k: m.get(k) for k in ("path", "realpath", "lib", "by", "version")})
              for m in d.get("mapped") or [] if isinstance(m, dict) and m.get("path")]
    return CoLoad(status=r.status, error=r.error, steps=list(d.get("steps") or []), mapped=mapped,
                  needs=dict(needs), elapsed_s=round(time.monotonic() - t0, 3))


def needs_of(builds: Sequence, configured: object) -> dict[str, dict]:
    """What each step's framework needs, keyed by its step name (kbackend.gpu.compat.Build)."""
    out = {}
    for b in builds:
        name = f"keras+{configured}" if b.framework == configured else b.framework
        n = b.cudnn
        spec = None if n is None else f">={n.minimum or n.major},<{n.major + 1}"
        out[name] = {"cudnn": spec, "cuda": b.cuda, "label": b.label}
    return out


def _spec_ok(spec: str | None, version: str | None) -> bool | None:
    if not spec or not version:
        return None
    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.version import InvalidVersion, Version

    try:
        return Version(version) in SpecifierSet(spec)
    except (InvalidSpecifier, InvalidVersion):
        return None


def verdict(c: CoLoad) -> tuple[str, list[str]]:
    """(ok | warn | error, evidence) for what the child mapped against what each framework needs."""
    ev: list[str] = []
    status = "ok"
    for s in c.steps:
        if s.get("error"):
            ev.append(f"{s['name']}: {s['error']}")
            status = "error"
    by_lib: dict[str, list[MappedLib]] = {}
    for m in c.mapped:
        by_lib.setdefault(m.lib, []).append(m)
    for lib, files in sorted(by_lib.items()):
        distinct = list({(m.realpath or m.path): m for m in files}.values())
        for m in distinct:
            ev.append(f"{lib} {m.version or '?'}: {m.path} (loaded first by {m.by})")
        if len(distinct) > 1:
            status = "error" if status == "error" else "warn"
            ev.append(f"{len(distinct)} copies of {lib} are mapped in one process: each framework's calls may reach "
                      "the other's copy")
    cudnn = [m for m in c.mapped if m.lib == "libcudnn"]
    cudart = [m for m in c.mapped if m.lib == "libcudart"]
    for step, need in c.needs.items():
        label = need.get("label") or step
        first = cudnn[0] if cudnn else None
        ok = _spec_ok(need.get("cudnn"), first.version if first else None)
        if ok is False:
            status = "error"
            ev.append(f"{label} needs cuDNN {need['cudnn']}, but the process has cuDNN {first.version} "
                      f"({first.path}), loaded first by {first.by}")
        rt = cudart[0] if cudart else None
        want = need.get("cuda")
        if rt is not None and rt.version and want and rt.version.split(".")[0] != str(want).split(".")[0]:
            status = "error"
            ev.append(f"{label} was built for CUDA {want}, but the process has libcudart {rt.version} ({rt.path}), "
                      f"loaded first by {rt.by}")
    return status, ev


def pinned_names(wheels: Sequence) -> set[str]:
    """The normalised names of the nvidia-* distributions the frameworks' requirements name."""
    from packaging.requirements import InvalidRequirement, Requirement

    out = set()
    for w in wheels:
        for line in w.requires:
            try:
                out.add(Requirement(line).name.lower().replace("_", "-"))
            except InvalidRequirement:
                continue
    return out


def pin_conflicts(wheels: Sequence, installed: Mapping[str, str]) -> list[dict]:
    """The nvidia-* wheels whose installed version breaks a framework's requirement, or whose
    requirements across frameworks no single version meets: [{"dist", "installed", "pins": [(who, spec)],
    "broken": [who]}]."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.version import InvalidVersion, Version

    pins: dict[str, list[tuple[str, str]]] = {}
    for w in wheels:
        for line in w.requires:
            try:
                req = Requirement(line)
            except InvalidRequirement:
                continue
            name = req.name.lower().replace("_", "-")
            if str(req.specifier):
                pins.setdefault(name, []).append((f"{w.dist} {w.version}", str(req.specifier)))
    out = []
    for dist, ps in sorted(pins.items()):
        have = installed.get(dist)
        broken = []
        if have is not None:
            try:
                hv = Version(have)
                broken = [who for who, spec in ps if not _contains(spec, hv)]
            except InvalidVersion:
                broken = []
        clash = len({who for who, _ in ps}) > 1 and not _some_version_fits(ps, installed.get(dist))
        if broken or clash:
            out.append({"dist": dist, "installed": have, "pins": ps, "broken": broken})
    return out


def _contains(spec: str, v) -> bool:
    from packaging.specifiers import SpecifierSet

    return SpecifierSet(spec).contains(v, prereleases=True)


def _some_version_fits(ps: Sequence[tuple[str, str]], have: str | None) -> bool:
    """Whether one version meets every pin (tried: the pins' own versions and the installed one)."""
    from packaging.specifiers import SpecifierSet
    from packaging.version import InvalidVersion, Version

    combined = SpecifierSet(",".join(spec for _, spec in ps))
    cands = [s.version.rstrip(".*") for spec in [p for _, p in ps] for s in SpecifierSet(spec)]
    if have:
        cands.append(have)
    for c in cands:
        try:
            if combined.contains(Version(c), prereleases=True):
                return True
        except InvalidVersion:
            continue
    return False
