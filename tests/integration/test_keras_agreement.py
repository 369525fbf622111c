"""kbackend's effective config and verdict, compared with real Keras in a child process.

The oracle child (keras_oracle.py) executes the installed Keras's own config.py
and backend name check; hypothesis generates files and environments.
"""

from __future__ import annotations

import base64
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kbackend.config import store
from kbackend.config.judge import judge
from kbackend.config.location import locate
from kbackend.config.records import FileState
from kbackend.config.rules import rules_for
from kbackend.envs import installed as inst

pytestmark = pytest.mark.integration
ORACLE = Path(__file__).with_name("keras_oracle.py")


class Oracle:
    def __init__(self, home: str, keras_dir: str | None = None):
        # Its own HOME: real Keras writes files, never into the user's home.
        env = dict(os.environ, PYTHONSAFEPATH="1", PYTHONUTF8="1", HOME=home)
        if keras_dir:
            env["KBACKEND_ORACLE_KERAS_DIR"] = keras_dir
        self.proc = subprocess.Popen([sys.executable, str(ORACLE)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env=env, cwd="/")
        self.hello = json.loads(self.proc.stdout.readline())

    def ask(self, raw: bytes | None, env: dict) -> dict:
        req = {"raw": None if raw is None else base64.b64encode(raw).decode(), "env": env}
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, "the oracle child died"
        return json.loads(line)

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def oracle(tmp_path_factory):
    o = Oracle(str(tmp_path_factory.mktemp("oracle-home")))
    yield o
    o.close()


@pytest.fixture(scope="module")
def installed():
    return inst.versions(inst.scan(tuple(p for p in sys.path if p)))


def test_oracle_reads_backend_names_from_keras(oracle):
    assert oracle.hello["backends"] == sorted(rules_for(_keras_version()).backends)


def _keras_version():
    d = inst.keras_dist(inst.scan(tuple(p for p in sys.path if p)))
    return d.version


def _ours(raw: bytes | None, env: dict, installed: dict, version: str | None = None):
    rules = rules_for(version or _keras_version())
    fs = FileState(path="/k/keras.json", status="missing") if raw is None else store.parse_bytes("/k/keras.json", raw)
    return judge(fs, rules, env, installed)


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(b, str) and isinstance(a, float) and not math.isfinite(a):
        return repr(a) == b
    return a == b and type(a) is type(b)


def _compare(oracle, installed, raw, env, version=None):
    theirs = oracle.ask(raw, env)
    ours = _ours(raw, env, installed, version)
    assert ours.imports == theirs["ok"], (raw, env, theirs, ours.keras_error)
    if not theirs["ok"]:
        assert ours.keras_error == theirs["error"], (raw, env)
        return
    for key in ("floatx", "epsilon", "backend", "image_data_format", "nnx_enabled"):
        if theirs[key] is None and key == "nnx_enabled":  # Keras before 3.11 has no NNX
            assert key not in ours.effective
            continue
        assert _same(ours.effective[key].value, theirs[key]), (key, raw, env, theirs, ours.effective[key])
    # Keras's own variables (3.10+) and the TF_FORCE_GPU_ALLOW_GROWTH it sets: as `show` reports them
    for var, key in (("KERAS_MAX_EPOCHS", "max_epochs"), ("KERAS_MAX_STEPS_PER_EPOCH", "max_steps_per_epoch")):
        v = ours.variables.get(var)
        read = v is not None and v.origin == f"env:{var}"
        assert (v.value if read else None) == theirs[key], (var, env, theirs[key], v)
    growth = ours.variables.get("TF_FORCE_GPU_ALLOW_GROWTH")
    assert (growth.value if growth else env.get("TF_FORCE_GPU_ALLOW_GROWTH")) == theirs["allow_growth"], (env, growth)


ANY_JUNK = st.sampled_from([None, [], {"a": 1}, True, 1, 0.5, "x"])
VALUES = {
    "floatx": st.one_of(st.sampled_from(["float16", "float32", "float64", "bfloat16", "Float32", "float8", ""]), ANY_JUNK),
    "epsilon": st.one_of(
        st.sampled_from([1e-7, 1e-3, 0.0, -1.0, 1, "1e-7", float("nan"), float("inf"), -0.0]),
        st.floats(allow_nan=True, allow_infinity=True), ANY_JUNK,
    ),
    "backend": st.one_of(
        st.sampled_from(["tensorflow", "jax", "torch", "numpy", "openvino", "cntk", "theano", "JAX", " jax", "", "mxnet"]),
        ANY_JUNK,
    ),
    "image_data_format": st.one_of(
        st.sampled_from(["channels_last", "channels_first", "Channels_Last", "CHANNELS_FIRST", "NHWC"]), ANY_JUNK
    ),
    "nnx_enabled": st.one_of(st.sampled_from([False, True, "false", 0, "", None]), ANY_JUNK),
    "image_dim_ordering": st.sampled_from(["tf", "th"]),
    "my_tool": ANY_JUNK,
}

documents = st.dictionaries(st.sampled_from(list(VALUES)), st.none(), max_size=7).flatmap(
    lambda keys: st.fixed_dictionaries({k: VALUES[k] for k in keys})
)


@st.composite
def files(draw):
    doc = draw(documents)
    text = json.dumps(doc, indent=draw(st.sampled_from([None, 2, 4])))
    kind = draw(st.sampled_from(["ok"] * 6 + ["missing", "truncated", "empty", "bom", "latin1", "array", "string"]))
    if kind == "missing":
        return None
    if kind == "truncated":
        return text.encode()[: max(1, len(text) // 2)]
    if kind == "empty":
        return draw(st.sampled_from([b"", b"  \n"]))
    if kind == "bom":
        return b"\xef\xbb\xbf" + text.encode()
    if kind == "latin1":
        return json.dumps({"floatx": "caf\u00e9"}, ensure_ascii=False).encode("latin-1")
    if kind == "array":
        return b"[1, 2]"
    if kind == "string":
        return b'"jax"'
    return text.encode()


environments = st.fixed_dictionaries(
    {},
    optional={
        "KERAS_BACKEND": st.sampled_from(["", "jax", "torch", "numpy", "tensorflow", "openvino", "cntk", "Torch"]),
        "KERAS_NNX_ENABLED": st.sampled_from(["true", "1", "False", "no"]),
        "KERAS_MAX_EPOCHS": st.sampled_from(["3", "x", ""]),
        "KERAS_MAX_STEPS_PER_EPOCH": st.sampled_from(["10", "1.5"]),
        "TF_FORCE_GPU_ALLOW_GROWTH": st.sampled_from(["false", "true"]),
    },
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=files(), env=environments)
def test_effective_config_and_verdict_agree_with_keras(oracle, installed, raw, env):
    _compare(oracle, installed, raw, env)


@pytest.mark.parametrize(
    "raw,error",
    [
        (b'{"floatx": "bfloat16"}', "ValueError: Invalid `floatx` configuration"),
        (b'{"epsilon": 1}', "ValueError: Invalid `epsilon` configuration"),
        (b'{"image_data_format": "Channels_Last"}', "ValueError: Invalid `image_data_format` configuration"),
        (b'{"backend": "cntk"}', "ValueError: Unable to import backend : cntk"),
        (b"[1, 2]", "AttributeError: 'list' object has no attribute 'get'"),
        (b'{"floatx": []}', "TypeError: unhashable type: 'list'"),
    ],
)
def test_named_failures_match_keras(oracle, installed, raw, error):
    theirs = oracle.ask(raw, {})
    assert not theirs["ok"] and theirs["error"].startswith(error)
    assert _ours(raw, {}, installed).keras_error == theirs["error"]


@pytest.mark.parametrize("raw", [b'{"backend": "jax"', b"", b"\xef\xbb\xbf{\"backend\": \"jax\"}", b'{"backend": "\xe9"}'])
def test_silently_ignored_files_match_keras(oracle, installed, raw):
    theirs = oracle.ask(raw, {"KERAS_BACKEND": "jax"})
    assert theirs["ok"] and theirs["floatx"] == "float32"
    ours = _ours(raw, {"KERAS_BACKEND": "jax"}, installed)
    assert not ours.file_used and any(p.severity == "ignored" for p in ours.problems)


@pytest.mark.parametrize("keras_home", ["", "rel/dir", "~/kk", "/abs/elsewhere"])
def test_location_matches_keras(oracle, keras_home, tmp_path):
    theirs = oracle.ask(None, {"KERAS_HOME": keras_home})
    cwd = theirs["tmp"]
    ours = locate({"KERAS_HOME": keras_home, "HOME": oracle.hello["home"]}, cwd=cwd)
    assert ours.path == theirs["config_path"]


OLDER = ("3.7.0", "3.10.0", "3.13.2")


@pytest.fixture(scope="module", params=OLDER)
def older_oracle(request, tmp_path_factory):
    """Real config.py and backend/__init__.py of an older Keras 3 release, from its wheel on PyPI."""
    import zipfile

    version = request.param
    d = tmp_path_factory.mktemp(f"keras-{version}")
    p = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                        f"keras=={version}", "-d", str(d)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    wheel = next(d.glob("keras-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        for name in ("keras/src/backend/config.py", "keras/src/backend/__init__.py"):
            z.extract(name, d / "src")
    o = Oracle(str(tmp_path_factory.mktemp("oracle-home")), str(d / "src" / "keras"))
    yield version, o
    o.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(raw=files(), env=environments)
def test_older_keras_lines_agree(older_oracle, installed, raw, env):
    version, oracle = older_oracle
    _compare(oracle, installed, raw, env, version)


def test_older_line_backend_names(older_oracle):
    version, oracle = older_oracle
    assert oracle.hello["backends"] == sorted(rules_for(version).backends)
