"""kbackend.gpu.compat: the driver table, minor-version compatibility, architectures, cuDNN,
CUDA_VISIBLE_DEVICES and JAX preallocation; the last two checked against torch's and
jaxlib's own code in a child process."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

import pytest

from kbackend.gpu import compat as C


@pytest.mark.parametrize("runtime,driver,driver_cuda,status", [
    ("12.4", "550.54.14", "12.4", "ok"),        # exactly the table's minimum
    ("12.4", "550.54.14", None, "ok"),          # the driver's CUDA from the table
    ("12.4", "535.104.05", "12.2", "warn"),     # minor-version compatibility
    ("12.8", "525.60.13", None, "warn"),        # the oldest driver any 12.x runs on
    ("12.4", "520.61.05", "11.8", "error"),     # 12.x on an 11.8 driver
    ("11.8", "470.82.01", "11.4", "warn"),      # 11.x on R470: minor-version compatibility
    ("11.8", "450.51.05", None, "error"),       # older than 450.80.02
    ("13.0", "575.51.03", "12.9", "error"),     # CUDA 13 needs R580
    ("13.0", "580.65.06", "13.0", "ok"),
    ("13.1", "580.65.06", "13.0", "warn"),
    ("12.2", None, "12.2", "ok"),               # only libcuda's cuDriverGetVersion known
    ("12.4", None, "12.2", "warn"),
    ("12.4", None, None, "unknown"),
    (None, "550.54.14", "12.4", "unknown"),
])
def test_driver_verdict(runtime, driver, driver_cuda, status):
    assert C.driver_verdict(runtime, driver, driver_cuda).status == status


def test_driver_table_is_monotonic_and_matches_facts():
    keys = sorted(C.DRIVER_TABLE, key=C.major_minor)
    drivers = [C.version(C.DRIVER_TABLE[k]) for k in keys]
    assert drivers == sorted(drivers)
    for cuda, drv in {"11.8": "520.61.05", "12.0": "525.60.13", "12.4": "550.54.14", "12.8": "570.26",
                      "13.0": "580.65.06", "13.1": "590.44.01"}.items():
        assert C.min_driver(cuda) == (drv, True)
    assert C.min_driver("12.7") == ("560.28.03", False)  # no 12.7 release: 12.6's minimum is a lower bound
    assert C.cuda_for_driver("535.104.05") == "12.2"
    assert C.cuda_for_driver("570.26") == "12.8"
    assert C.cuda_for_driver("418.67") is None


@pytest.mark.parametrize("archs,cc,runs", [
    (["sm_80", "sm_90"], "8.6", True),    # same major, newer minor
    (["sm_86"], "8.0", False),            # older minor
    (["sm_80"], "9.0", False),            # binary code does not cross a major
    (["sm_80", "compute_80"], "9.0", True),  # PTX is JIT-compiled forward
    (["sm_90a"], "9.0", True),
    (["sm_90a"], "10.0", False),          # arch-specific code runs on that part only
    (["sm_80", "sm_86"], "8.7", False),   # Jetson Orin runs only its own code
    (["sm_50", "sm_60", "sm_70", "sm_75"], "3.7", False),
    ([], "8.0", None),
])
def test_runs_on(archs, cc, runs):
    assert C.runs_on(archs, cc) is runs


def test_cc_floor():
    assert (C.cc_floor("13.0"), C.cc_floor("12.4"), C.cc_floor("11.8"), C.cc_floor(None)) == ("7.5", "5.0", "3.5", None)


@pytest.mark.parametrize("built,spec,major,minimum", [
    ("9.1.0", None, 9, "9.1"), ("9", None, 9, None), ("8", None, 8, None), ("90100", None, 9, "9.1"),
    (None, "==9.1.0.70", 9, "9.1"), (None, "<10.0,>=9.3.0.75", 9, "9.3"), (None, ">=9.8,<10", 9, "9.8"),
])
def test_cudnn_need(built, spec, major, minimum):
    need = C.cudnn_need(built, spec)
    assert (need.major, need.minimum) == (major, minimum)


def test_cudnn_need_accepts_same_major_newer_minor():
    need = C.cudnn_need("9.3.0")
    assert need.accepts("9.3.0") and need.accepts("9.10.1")
    assert need.accepts("9.1.0") is False and need.accepts("8.9.7") is False
    assert need.accepts(None) is None
    assert C.cudnn_need("8").accepts("8.6.0") and C.cudnn_need("8").accepts("9.1.0") is False


@pytest.mark.parametrize("raw,version", [(90100, "9.1.0"), (91900, "9.19.0"), (8902, "8.9.2"), (7605, "7.6.5"),
                                         (0, None)])
def test_cudnn_from_int(raw, version):
    assert C.cudnn_from_int(raw) == version


@pytest.mark.parametrize("framework,dist,version,requires,installed,cuda,cudnn,build", [
    ("torch", "torch", "2.6.0+cu124", [], {}, "12.4", None, True),
    ("torch", "torch", "2.4.1+cu118", [], {}, "11.8", None, True),
    ("torch", "torch", "2.9.0+cu130", [], {}, "13.0", None, True),
    ("torch", "torch", "2.6.0+cpu", ["nvidia-cudnn-cu12==9.1.0.70"], {}, None, None, False),
    ("torch", "torch", "2.6.0+rocm6.2", [], {}, None, None, False),
    ("torch", "torch", "2.5.1", ['nvidia-cuda-runtime-cu12==12.4.127; platform_system == "Linux"',
                                 'nvidia-cudnn-cu12==9.1.0.70; platform_system == "Linux"'], {},
     "12.4", "==9.1.0.70", True),
    ("torch", "torch", "2.9.0", ['nvidia-cuda-runtime==13.0.96; platform_system == "Linux"'], {}, "13.0", None, True),
    ("torch", "torch", "2.6.0", ['nvidia-cuda-runtime-cu12==12.4.127; platform_system == "Windows"'], {},
     None, None, False),
    ("tensorflow", "tensorflow", "2.16.1", [], {}, "12.3", ">=8.9", True),
    ("tensorflow", "tensorflow", "2.18.0", [], {}, "12.5", ">=9.3", True),
    ("tensorflow", "tensorflow", "2.20.0", ['nvidia-cuda-runtime-cu12<13.0,>=12.5.82; extra == "and-cuda"',
                                            'nvidia-cudnn-cu12<10.0,>=9.3.0.75; extra == "and-cuda"'],
     {"nvidia-cuda-runtime-cu12": "12.5.82"}, "12.5", "<10.0,>=9.3.0.75", True),
    ("tensorflow", "tensorflow-cpu", "2.21.0", ['nvidia-cudnn-cu12<10.0,>=9.3.0.75; extra == "and-cuda"'], {},
     None, None, False),
    ("jax", "jax-cuda12-plugin", "0.6.0", [], {"nvidia-cuda-runtime-cu12": "12.9.79"}, "12.9", None, True),
    ("jax", "jax-cuda13-plugin", "0.7.0", [], {}, "13.0", None, True),
    ("jax", "jaxlib", "0.4.23+cuda12.cudnn89", [], {}, "12", ">=8.9", True),
    ("jax", "jaxlib", "0.10.2", [], {}, None, None, False),
])
def test_wheel_cuda(framework, dist, version, requires, installed, cuda, cudnn, build):
    w = C.wheel_cuda(framework, dist, version, requires, installed, platform="linux")
    assert (w.cuda_build, w.cuda, w.cudnn) == (build, cuda, cudnn)


def test_tensorflow_is_not_a_cuda_build_off_linux():
    assert not C.wheel_cuda("tensorflow", "tensorflow", "2.18.0", [], {}, platform="win32").cuda_build


class _Probe:
    def __init__(self, name, status="ok", built_cuda=None, built_cudnn=None, cuda_archs=(), version=None):
        self.name, self.status, self.built_cuda, self.built_cudnn = name, status, built_cuda, built_cudnn
        self.cuda_archs, self.version = list(cuda_archs), version


def test_builds_prefer_the_probe_over_metadata():
    wheels = [C.wheel_cuda("torch", "torch", "2.6.0+cu124", [], {}),
              C.wheel_cuda("tensorflow", "tensorflow", "2.18.0", [], {}, platform="linux")]
    probes = [_Probe("torch", built_cuda="12.4", built_cudnn="9.1.0", cuda_archs=["sm_50", "sm_90"]),
              _Probe("tensorflow", status="import_error")]
    torch, tf = C.builds(wheels, probes)
    assert (torch.cuda, torch.cuda_from, torch.archs, torch.cudnn.minimum) == ("12.4", "probe", ("sm_50", "sm_90"),
                                                                             "9.1")
    assert (tf.cuda, tf.cuda_from, tf.cudnn.major) == ("12.5", "table", 9)
    # a probe that says "no CUDA" (torch+cpu imported fine) drops the build
    assert C.builds([C.wheel_cuda("torch", "torch", "2.6.0", [], {})], [_Probe("torch")]) == []


def test_cuda_for_a_probed_framework_without_metadata():
    (b,) = C.builds([], [_Probe("jax", built_cuda="12.8", built_cudnn="9.8.0", version="0.6.0")])
    assert (b.framework, b.cuda, b.pip_first, b.cudnn.minimum) == ("jax", "12.8", True, "9.8")


@pytest.mark.parametrize("value,count,seen", [
    (None, 2, [0, 1]), ("", 2, []), ("-1", 2, []), ("0,0", 2, []), ("abc", 2, []), ("0,abc,1", 2, [0]),
    ("1", 1, []), ("0,2,1", 2, [0]), ("1gpu2,2ampere", 4, [1, 2]), (" 1 , 0", 2, [1, 0]),
])
def test_visible_ordinals(value, count, seen):
    assert C.visible_ordinals(value, count=count) == seen


def test_visible_uuids():
    uuids = ["GPU-aaaa-1", "GPU-bbbb-2", "GPU-bbbb-3"]
    assert C.visible_ordinals("GPU-aaaa,GPU-bbbb-3", uuids=uuids) == [0, 2]
    assert C.visible_ordinals("GPU-bbbb", uuids=uuids) == []      # ambiguous prefix ends the list
    assert C.visible_ordinals("GPU-aaaa,GPU-aaaa-1", uuids=uuids) == []  # the same GPU twice
    assert C.visible_ordinals("MIG-1234", uuids=uuids) is None


VISIBLE_SAMPLES = ["", "-1", "0", "0,1", "1,0", "0,0", "abc", "0,abc,1", "1gpu2,2ampere", " 1, 0", "+1", "-0",
                   "GPU-1,GPU-2", "GPU-1,GPU-1", "GPU-1,0", "MIG-a,MIG-b", "0,,1", ",0", "3,-1,2", "0x1"]


def _in_child(code: str, arg, module: str):
    """Run `code` with json(arg) as argv[1] in a fresh interpreter; its last stdout line as JSON."""
    p = subprocess.run([sys.executable, "-c", code, json.dumps(arg)], capture_output=True, text=True, timeout=120)
    if p.returncode != 0 and f"No module named '{module}'" in p.stderr:
        pytest.skip(f"{module} is not installed")
    assert p.returncode == 0, p.stderr[-2000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


TOKENS = ["0", "1", "2", "-1", "", "a", "1x", "GPU-1", "MIG-2", " 3", "+2"]


@pytest.mark.integration
def test_parse_visible_devices_is_torchs():
    """Our parser against torch's own _parse_visible_devices, in a child (torch is never imported here)."""
    samples = VISIBLE_SAMPLES + [",".join(p) for p in itertools.product(TOKENS, repeat=2)]
    samples += [",".join(p) for p in itertools.product(TOKENS[:6], repeat=3)]
    code = (
        "import json, os, sys\nimport torch.cuda as tc\nout = []\n"
        "for v in json.loads(sys.argv[1]):\n    os.environ['CUDA_VISIBLE_DEVICES'] = v\n"
        "    out.append(tc._parse_visible_devices())\nprint(json.dumps(out))\n"
    )
    theirs = _in_child(code, samples, "torch")
    assert [C.parse_visible_devices(v) for v in samples] == theirs


@pytest.mark.integration
def test_jax_preallocates_is_jaxlibs():
    """Our reading of the XLA_* variables against jaxlib's generate_pjrt_gpu_plugin_options."""
    cases = [{}, {"XLA_PYTHON_CLIENT_PREALLOCATE": "false"}, {"XLA_PYTHON_CLIENT_PREALLOCATE": "False"},
             {"XLA_PYTHON_CLIENT_PREALLOCATE": "0"}, {"XLA_PYTHON_CLIENT_PREALLOCATE": "FALSE"},
             {"XLA_PYTHON_CLIENT_PREALLOCATE": "no"}, {"XLA_PYTHON_CLIENT_PREALLOCATE": "true"},
             {"XLA_PYTHON_CLIENT_MEM_FRACTION": ".5"}, {"XLA_CLIENT_MEM_FRACTION": ".3"}]
    code = (
        "import json, os, sys\nfrom jaxlib import xla_client as xc\nout = []\n"
        "for env in json.loads(sys.argv[1]):\n"
        "    for k in ('XLA_PYTHON_CLIENT_PREALLOCATE', 'XLA_PYTHON_CLIENT_MEM_FRACTION', 'XLA_CLIENT_MEM_FRACTION',\n"
        "              'XLA_PYTHON_CLIENT_ALLOCATOR'):\n        os.environ.pop(k, None)\n"
        "    os.environ.update(env)\n    o = xc.generate_pjrt_gpu_plugin_options()\n"
        "    out.append([o.get('preallocate', True), o.get('memory_fraction')])\nprint(json.dumps(out))\n"
    )
    theirs = _in_child(code, cases, "jaxlib")
    for env, (pre, fraction) in zip(cases, theirs):
        ours, our_fraction = C.jax_preallocates(env)
        assert ours == pre, env
        assert float(our_fraction) == (fraction if fraction is not None else 0.75), env
