"""Every command's human output fits the width: 80 columns under COLUMNS=80, more when there is more.

Each command runs through the real CLI, on a real small run where one is cheap (config
commands, doctor's checks that need no backend import, `verify --list`, verify on numpy,
envs over environments built on disk) and on recorded results where a real run is not
(a verify report with five backends, a crash and long failures; a bench report with a gate;
doctor facts of a machine whose GPU stack is broken). Both renderers are covered: plain text
(a pipe) and rich (a terminal). Widths are measured with rich's cell width, colour codes
removed. Lines that are data, not text for people, are out of scope: `path` and `get` print a
value, `shell-env` prints shell code.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click
import pytest
from rich.cells import cell_len

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from test_envs_support import clean_discovery, fake_env  # noqa: E402

from kbackend.doctor import service as doctor_service  # noqa: E402
from kbackend.gpu.model import GpuFacts  # noqa: E402

NARROW, WIDE = 80, 200
#: the checks doctor runs without importing a backend in a child (fast, and real).
NO_PROBE = ("python", "keras", "config", "keras-backend-env", "versions", "numpy-needs-jax", "tf-legacy-keras",
            "h5py", "plot-model", "gpu-ld-library-path", "gpu-visible-devices", "gpu-version-mismatch",
            "gpu-stub-libcuda")
GPU_NO_PROBE = [c for c in NO_PROBE if c.startswith("gpu-")]


def widest(text: str) -> int:
    return max((cell_len(click.unstyle(line)) for line in text.splitlines()), default=0)


def too_wide(text: str, columns: int) -> list[str]:
    return [line for line in text.splitlines() if cell_len(click.unstyle(line)) > columns]


def _run(run_cli, columns: int, *args):
    code, out, err = run_cli(*args, env={"COLUMNS": str(columns)})
    return code, out, err


def assert_fits(run_cli, *args, wider: bool = True, codes=(0, 1)):
    """`kbackend ARGS` at 80 columns: no line wider, stdout and stderr; at 200: some line uses the room."""
    code, out, err = _run(run_cli, NARROW, *args)
    assert code in codes, (code, out, err)
    assert out.strip(), err
    assert too_wide(out, NARROW) == [] and too_wide(err, NARROW) == [], (args, too_wide(out + err, NARROW))
    if wider:
        _, wide_out, wide_err = _run(run_cli, WIDE, *args)
        assert NARROW < widest(wide_out) <= WIDE, (args, widest(wide_out))
        assert too_wide(wide_err, WIDE) == []
    return out, err


@pytest.fixture
def deep_home(tmp_path, monkeypatch):
    """KERAS_HOME far down a tree: every line naming keras.json is long."""
    d = tmp_path / ("a_rather_long_folder_name_" * 2) / "and another level with spaces in it" / ".keras"
    d.mkdir(parents=True)
    monkeypatch.setenv("KERAS_HOME", str(d))
    return d


@pytest.fixture
def rich_terminal(monkeypatch):
    """doctor and verify render as on a terminal (rich), stdout only (no progress bar on stderr)."""
    from kbackend.render import doctor_view, progress, verify_view

    for mod in (doctor_view, verify_view, progress):
        monkeypatch.setattr(mod, "isatty", lambda stream: stream is sys.stdout)


# ---------------------------------------------------------------------- config commands


def test_config_commands_fit(run_cli, deep_home):
    assert_fits(run_cli, "show")
    out, _ = assert_fits(run_cli, "set", "epsilon", "1e-5")
    assert "backup" in out or "epsilon" in out
    assert_fits(run_cli, "switch", "jax")
    assert_fits(run_cli, "unset", "epsilon", wider=False)
    assert_fits(run_cli, "check")
    assert_fits(run_cli, "reset", wider=False)
    # a file with problems: messages, what Keras raises, fixes
    (deep_home / "keras.json").write_text(json.dumps({
        "backend": "jax", "floatx": "float8", "epsilon": "tiny", "image_data_format": "channels_sideways",
        "image_dim_ordering": "th", "a_key_keras_does_not_know_with_a_long_name": [1, 2, 3]}))
    out, _ = assert_fits(run_cli, "show")
    assert "floatx" in out and "channels_sideways" in out
    assert_fits(run_cli, "check", codes=(1,))


# ---------------------------------------------------------------------- doctor


def _checks(*ids):
    return [a for i in ids for a in ("--check", i)]


def test_doctor_fits_on_a_real_run(run_cli, deep_home, monkeypatch):
    monkeypatch.setenv("LD_LIBRARY_PATH", ":".join(f"/opt/cuda-{v}/targets/x86_64-linux/lib/stubs/and/more"
                                                   for v in ("11.8", "12.1", "12.4", "12.6")))
    monkeypatch.setenv("TF_USE_LEGACY_KERAS", "1")
    monkeypatch.setattr(doctor_service, "_default_gpu_probe", lambda environ, **kw: GpuFacts())
    for extra in ((), ("--verbose",)):
        out, _ = assert_fits(run_cli, "doctor", *_checks(*NO_PROBE), *extra)
        assert "LD_LIBRARY_PATH" in out
    assert_fits(run_cli, "doctor", "--list-checks", wider=False)


def test_doctor_folds_the_gpu_skips_into_one_line_without_a_gpu(run_cli, monkeypatch):
    monkeypatch.setattr(doctor_service, "_default_gpu_probe", lambda environ, **kw: GpuFacts())
    code, out, _ = _run(run_cli, NARROW, "doctor", *_checks(*NO_PROBE))
    assert code in (0, 1)
    folded = [line for line in out.splitlines() if "GPU:" in line]
    n = len(GPU_NO_PROBE)
    assert len(folded) == 1 and folded[0].startswith("skip") and f"GPU: {n} checks skipped" in folded[0]
    words = " ".join(out.split())  # the line may wrap
    assert f"GPU: {n} checks skipped — no NVIDIA GPU (nvidia-smi not found); --verbose lists them" in words
    assert not any(i in out for i in GPU_NO_PROBE)
    code, verbose, _ = _run(run_cli, NARROW, "doctor", "--verbose", *_checks(*NO_PROBE))
    assert all(i in verbose for i in GPU_NO_PROBE) and "GPU:" not in verbose
    # --json is the whole truth either way
    code, doc, _ = _run(run_cli, NARROW, "doctor", "--json", *_checks(*NO_PROBE))
    assert [c["id"] for c in json.loads(doc)["checks"]] == list(NO_PROBE)


def test_doctor_does_not_fold_a_machine_with_a_gpu(run_cli, monkeypatch):
    from test_gpu_checks import gpu

    monkeypatch.setattr(doctor_service, "_default_gpu_probe", lambda environ, **kw: gpu())
    _, out, _ = _run(run_cli, NARROW, "doctor", *_checks(*NO_PROBE))
    assert "GPU:" not in out and all(i in out for i in GPU_NO_PROBE)


def _broken_gpu_doctor(monkeypatch):
    """doctor on recorded facts: a GPU whose driver is too old for a CUDA build, long paths everywhere."""
    from gpu_fakes import make_facts
    from test_gpu_checks import JAX, PIP_DNN9, PIP_RT12, TORCH, gpu, smi

    long_env = {"LD_LIBRARY_PATH": "/usr/local/cuda-11.8/lib64:/usr/local/cuda-11.8/targets/x86_64-linux/lib/stubs",
                "CUDA_VISIBLE_DEVICES": "0,1,7,GPU-3a1f2c4d-1111-2222-3333-444455556666",
                "XLA_PYTHON_CLIENT_MEM_FRACTION": ".75"}
    facts = make_facts(gpu(smi(driver="470.57.02", cuda="11.4", ccs=("3.5", "8.0")), wheels=[TORCH, JAX],
                           cuda_runtimes=[PIP_RT12], cudnns=[PIP_DNN9]),
                       installed={"torch": "2.6.0+cu124", "jax": "0.6.0", "jax-cuda12-plugin": "0.6.0"},
                       environ=long_env)
    monkeypatch.setattr(doctor_service, "collect",
                        lambda *a, **kw: (facts, doctor_service.ProbeInfo(backends_probed=False)))


@pytest.mark.parametrize("terminal", [False, True], ids=["plain", "rich"])
def test_doctor_fits_on_recorded_facts_of_a_broken_gpu(run_cli, monkeypatch, request, terminal):
    if terminal:
        request.getfixturevalue("rich_terminal")
    _broken_gpu_doctor(monkeypatch)
    out, _ = assert_fits(run_cli, "doctor", "--verbose")
    assert "error" in out and "470.57.02" in out


# ---------------------------------------------------------------------- verify


def test_verify_list_fits(run_cli):
    out, _ = assert_fits(run_cli, "verify", "--list")
    assert "sparse_categorical_crossentropy_logits" in out
    _, wide, _ = _run(run_cli, WIDE, "verify", "--list")
    # wide: what each case checks sits in its own column, beside the case
    assert any(line.lstrip().startswith("round_half_even") and "ties round to even" in line
               for line in wide.splitlines())


@pytest.mark.integration
def test_verify_fits_on_a_real_run(run_cli, deep_home):
    out, _ = assert_fits(run_cli, "verify", "--backend", "numpy", "--op", "add", "--op", "matmul", "--op",
                         "conv2d", "--dtype", "float32", "--dtype", "float16", "--no-model", wider=False)
    assert "numpy" in out and "verify:" in out


def _recorded_verify(monkeypatch):
    from kbackend.suite import service
    from kbackend.suite.model import BackendRun, CaseResult, VerifyReport

    names = ("tensorflow", "jax", "torch", "numpy", "openvino")
    versions = ("2.21.0", "0.10.2", "2.13.0+cpu", "2.4.6", "2026.4.1")
    crash = ("the child died with SIGSEGV (Segmentation fault) in case eigh float32 after 12 cases; "
             + "its last output: " + " ".join(f"frame #{i} libopenvino_intel_cpu_plugin.so(+0x{i:06x})"
                                              for i in range(12)))
    assert len(crash) > 400
    runs = [BackendRun(name=n, status="crashed" if n == "openvino" else "ok", version=v, elapsed_s=3.2,
                       restarts=1 if n == "openvino" else 0, error=crash if n == "openvino" else None)
            for n, v in zip(names, versions)]
    results = []
    for n in names:
        for dtype in ("float16", "float32"):
            for case, fmt in (("sparse_categorical_crossentropy_logits", None), ("depthwise_conv2d_strided",
                                                                              "channels_first")):
                st = {"torch": "fail", "numpy": "xfail", "openvino": "error"}.get(n, "pass")
                kw = dict(backend=n, case=case, category="loss", dtype=dtype, data_format=fmt, status=st,
                          message={"fail": "3 of 1024 values off: " + "x" * 300,
                                   "xfail": "numpy computes float16 in float32 (a documented difference)",
                                   "error": "RuntimeError: " + "y" * 500}.get(st),
                          worst=1234.5 if st == "fail" else None, max_abs_err=0.5 if st == "fail" else None,
                          atol=1e-3, rtol=1e-3)
                results.append(CaseResult(check="value", **kw))
                if n in ("jax", "torch", "tensorflow"):
                    results.append(CaseResult(check="grad", **{**kw, "status": "pass" if n != "jax" else "fail",
                                                               "worst": 3.0 if n == "jax" else None}))
        results.append(CaseResult(backend=n, case="tiny_model", category="model", dtype="float32", check="value",
                                  status="skip", message="no model on this backend: " + "z" * 120))
    rep = VerifyReport(python="/very/long/path/to/a/virtual/environment/bin/python", dtypes=["float16", "float32"],
                       data_formats=["channels_last", "channels_first"], backends=runs, results=results,
                       elapsed_s=42.0)
    monkeypatch.setattr(service, "run", lambda *a, **kw: rep)
    return rep


@pytest.mark.parametrize("terminal", [False, True], ids=["plain", "rich"])
def test_verify_fits_on_a_recorded_report(run_cli, monkeypatch, request, terminal):
    if terminal:
        request.getfixturevalue("rich_terminal")
    _recorded_verify(monkeypatch)
    out, _ = assert_fits(run_cli, "verify", "--backend", "numpy")
    assert "(--json has the full text)" in out  # the crash and the long failures are cut, not lost:
    _, doc, _ = _run(run_cli, NARROW, "verify", "--backend", "numpy", "--json")
    doc = json.loads(doc)
    assert len(next(b for b in doc["backends"] if b["name"] == "openvino")["error"]) > 400
    assert "∇" in out and "∇ the gradient check" in out  # the legend explains the mark


# ---------------------------------------------------------------------- bench


def _recorded_bench(monkeypatch):
    from bench_samples import backend, report, result

    from kbackend.bench import gate, run

    base = report([result("numpy", "matmul"), result("jax", "matmul", (0.5,) * 3)])
    cur = report([result("numpy", "matmul", (1.5,) * 3), result("jax", "matmul", (0.5,) * 3,
                                                                  compute_dtype="float16", first_call_s=30.0),
                  result("torch", "matmul", (0.7,) * 3),
                  result("openvino", "matmul", status="crashed", median_s=None, error="Fatal Python error: " + "f" * 300),
                  result("numpy", "depthwise_conv2d_strided", (1e-3,) * 3, size="large")],
                 backends=[backend("numpy"), backend("jax"), backend("torch"),
                           backend("openvino", status="import_error", error="ImportError: " + "o" * 300)],
                 elapsed_s=99.0)
    rep = cur.model_copy(update={"gate": gate.compare(cur, base, threshold=0.1,
                                                      baseline_path="/a/long/path/to/the/baseline-file.json")})
    monkeypatch.setattr(run, "run", lambda *a, **kw: rep)


def test_bench_fits_on_a_recorded_report(run_cli, monkeypatch):
    _recorded_bench(monkeypatch)
    out, _ = assert_fits(run_cli, "bench", "--backend", "numpy", "--quick")
    assert "regression" in out and "█" in out and "(--json has the full text)" in out
    _, wide, _ = _run(run_cli, WIDE, "bench", "--backend", "numpy", "--quick")
    assert "█" * 24 in wide  # the full bar where there is room


# ---------------------------------------------------------------------- envs


def test_envs_fits(run_cli, tmp_path, monkeypatch):
    cwd = clean_discovery(monkeypatch, tmp_path)
    every = {"keras": "3.15.1", "tensorflow": "2.21.0", "jax": "0.10.2", "jaxlib": "0.10.2", "torch": "2.13.0+cpu",
             "numpy": "2.4.6", "openvino": "2026.4.1"}
    fake_env(cwd / ".venv", dists=every)
    root = tmp_path / "pyenv"
    monkeypatch.setenv("PYENV_ROOT", str(root))
    for v in ("3.10.13", "3.6.15", "3.13.0t", "3.9.18", "3.12.1", "3.13.0", "2.7.18"):
        fake_env(root / "versions" / v, flavour="prefix", version=v.rstrip("t"),
                 dists=every if v == "3.12.1" else {"keras": "2.15.0"})
    fake_env(tmp_path / "broken", python=False)
    out, _ = assert_fits(run_cli, "envs", "--path", str(tmp_path / "broken"))
    assert "openvino 2026.4.1" in out


def test_envs_sorts_python_versions_as_versions(run_cli, tmp_path, monkeypatch):
    clean_discovery(monkeypatch, tmp_path)
    root = tmp_path / "pyenv"
    monkeypatch.setenv("PYENV_ROOT", str(root))
    names = ("3.10.13", "3.6.15", "3.13t", "3.9.18", "3.12.1", "3.13.0", "2.7.18", "pypy3.10-7.3.12",
             "miniconda3-latest", "3.13.0t")
    for v in names:
        fake_env(root / "versions" / v, flavour="prefix", version="3.12.1")
    _, out, _ = run_cli("envs", "--json")
    got = [Path(e["prefix"]).name for e in json.loads(out)["environments"] if "pyenv" in e["kinds"]]
    assert got == ["2.7.18", "3.6.15", "3.9.18", "3.10.13", "3.12.1", "3.13.0", "3.13.0t", "3.13t",
                   "miniconda3-latest", "pypy3.10-7.3.12"]


# ---------------------------------------------------------------------- adversarial widths


@pytest.fixture
def wide_chars_home(tmp_path, monkeypatch):
    """KERAS_HOME through folders named in characters two columns wide (CJK, emoji)."""
    d = tmp_path / "用户的文件夹和更多的文件夹" / "データ_😀_フォルダ_とても長い名前のフォルダ" / ".keras"
    d.mkdir(parents=True)
    monkeypatch.setenv("KERAS_HOME", str(d))
    (d / "keras.json").write_text(json.dumps({"backend": "jax", "floatx": "float8", "名前": "値"}))
    return d


def test_characters_two_columns_wide_count_twice(run_cli, wide_chars_home, monkeypatch):
    monkeypatch.setattr(doctor_service, "_default_gpu_probe", lambda environ, **kw: GpuFacts())
    out, _ = assert_fits(run_cli, "show", wider=False)
    assert "用户的文件夹" in out
    assert_fits(run_cli, "check", codes=(1,), wider=False)
    assert_fits(run_cli, "doctor", *_checks(*NO_PROBE), wider=False)


@pytest.mark.parametrize("columns", ["1", "20", "0", "-5", "eighty", ""])
def test_any_columns_value_renders(run_cli, deep_home, monkeypatch, columns):
    """A tiny, zero, negative or non-numeric COLUMNS never breaks a command: the same answer, wrapped or at 80."""
    monkeypatch.setattr(doctor_service, "_default_gpu_probe", lambda environ, **kw: GpuFacts())
    _recorded_verify(monkeypatch)
    _recorded_bench(monkeypatch)
    for args in (("show",), ("check",), ("doctor", *_checks(*NO_PROBE)), ("verify", "--list"),
                 ("verify", "--backend", "numpy"), ("bench", "--backend", "numpy", "--quick"), ("envs",)):
        code80, out80, _ = _run(run_cli, NARROW, *args)
        code, out, err = run_cli(*args, env={"COLUMNS": columns})
        assert code == code80 and "Traceback" not in out + err, (args, columns, err)
        assert out.strip()
        if not columns.isdigit() or int(columns) == 0:
            assert out == out80  # not a width: 80 when not a terminal


def test_an_error_wraps_on_a_terminal_and_stays_one_line_in_a_log(tmp_path):
    """`kbackend switch jaxx`'s error (about 120 columns) on a real 80-column terminal: wrapped, the
    fix line kept whole; through a pipe: one line, as a log would grep it."""
    import fcntl
    import pty
    import struct
    import subprocess
    import sys
    import termios

    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    argv = [sys.executable, "-m", "kbackend", "switch", "jaxx"]
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    p = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env={**env, "NO_COLOR": "1"},
                         close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert p.wait(timeout=60) == 1
    lines = b"".join(chunks).decode().replace("\r", "").splitlines()
    assert lines[0].startswith("error: `jaxx` is not a backend") and len(lines) >= 3, lines
    assert all(cell_len(ln) <= 80 for ln in lines if not ln.startswith("fix: ")), lines
    assert "fix: kbackend switch jax" in lines
    piped = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
    assert piped.returncode == 1
    err = piped.stderr.splitlines()
    assert err[0].startswith("error: `jaxx` is not a backend") and "Did you mean `jax`?" in err[0]
    assert err[1] == "fix: kbackend switch jax"
