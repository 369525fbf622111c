"""Files at keras.json's path that Keras meets differently from a plain JSON file.

Each case builds the real thing (a FIFO, a socket, a symlink loop, a link to
/dev/null or /dev/zero, a file over 16 MiB, nesting deeper than Python's
recursion limit, NaN and Infinity) and asks real Keras in a child what it does:
the child runs the installed Keras's own `keras/src/backend/config.py` (as
tests/integration/keras_oracle.py does) or a real `import keras`, under a
timeout, so that a hang is observed rather than assumed. kbackend's commands run
as child processes too, under a timeout: a command that blocks fails the test.
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kbackend.config import store
from kbackend.config.judge import judge
from kbackend.config.rules import rules_for
from kbackend.envs import installed as inst

HERE = Path(__file__).resolve().parent
ORACLE_DIR = HERE.parent / "integration"

# Runs the installed Keras's config.py (keras_oracle.py stubs the two imports that would load a
# backend) with KERAS_HOME from the environment, and reports what Keras ended with.
KERAS_CONFIG_CHILD = textwrap.dedent(r"""
    import json, math, os, sys
    sys.argv = ["keras_oracle"]
    sys.path.insert(0, os.environ["ORACLE_DIR"])
    import keras_oracle as o
    ns = {"__name__": "keras.src.backend.config"}
    try:
        exec(o.CONFIG_SRC, ns)
    except BaseException as e:
        print(json.dumps({"ok": False, "error": f"{type(e).__name__}: {e}" if str(e) else type(e).__name__}))
        raise SystemExit(0)
    eps = ns["epsilon"]()
    print(json.dumps({"ok": True, "floatx": ns["floatx"](), "backend": ns["backend"](),
                      "epsilon": eps if math.isfinite(eps) else repr(eps),
                      "image_data_format": ns["image_data_format"]()}))
""")


def keras_reads(keras_home: Path, *, timeout: float = 20, memory: int | None = None) -> dict:
    """What real Keras's config loader does with keras_home/keras.json ({"hang": True} on timeout)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KERAS_")}
    env.update(KERAS_HOME=str(keras_home), ORACLE_DIR=str(ORACLE_DIR), PYTHONSAFEPATH="1")

    def limit():
        if memory:
            import resource

            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    try:
        p = subprocess.run([sys.executable, "-c", KERAS_CONFIG_CHILD], env=env, capture_output=True, text=True,
                           timeout=timeout, preexec_fn=limit, cwd="/")
    except subprocess.TimeoutExpired:
        return {"hang": True}
    lines = [line for line in p.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"ok": False, "error": (p.stderr.strip().splitlines() or ["(no output)"])[-1], "crashed": True}
    return json.loads(lines[-1])


def kbackend(keras_home: Path, *args: str, timeout: float = 30) -> tuple[int, str, str]:
    """Run the real CLI in a child: a command that blocks fails here instead of hanging the suite."""
    env = dict(os.environ, KERAS_HOME=str(keras_home))
    env.pop("KERAS_BACKEND", None)
    p = subprocess.run([sys.executable, "-m", "kbackend", *args], env=env, capture_output=True, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr


def listing(d: Path) -> dict[str, bytes | str]:
    out = {}
    for p in sorted(d.iterdir()):
        if p.is_symlink():
            out[p.name] = "-> " + os.readlink(p)
        elif p.is_file():
            out[p.name] = p.read_bytes()
        else:
            out[p.name] = oct(p.lstat().st_mode)
    return out


@pytest.fixture
def kh(tmp_path) -> Path:
    d = tmp_path / "kh"
    d.mkdir()
    return d


@pytest.fixture(scope="module")
def installed():
    return inst.versions(inst.scan(tuple(p for p in sys.path if p)))


def _keras_version(installed) -> str:
    return installed["keras"]


def _ours(path: Path, installed, version=None, environ=None):
    fs = store.read_state(str(path))
    py = ".".join(map(str, sys.version_info[:3]))
    return fs, judge(fs, rules_for(version or _keras_version(installed)), environ or {}, installed,
                     python_version=py)


def _show(kh: Path) -> dict:
    code, out, err = kbackend(kh, "show", "--json")
    assert code == 0, err
    return json.loads(out)


# ---------------------------------------------------------------- FIFO, socket, devices


def test_fifo_keras_blocks_and_kbackend_never_does(kh):
    os.mkfifo(kh / "keras.json")
    assert keras_reads(kh, timeout=3) == {"hang": True}  # real Keras waits for a writer
    doc = _show(kh)
    assert doc["file_status"] == "fifo" and doc["imports"] is False and doc["file_used"] is False
    assert [p["id"] for p in doc["problems"] if p["severity"] == "error"] == ["file_fifo"]
    assert all(v["value"] is None and v["origin"].startswith("unknown") for v in doc["effective"].values())
    code, out, _ = kbackend(kh, "check", "--json")
    assert code == 1 and "file_fifo" in json.loads(out)["failures"]
    before = listing(kh)
    for args in (("set", "floatx", "float64"), ("set", "floatx", "float64", "--force"), ("switch", "jax", "--force"),
                 ("reset", "--force"), ("unset", "floatx")):
        code, _, err = kbackend(kh, *args)
        assert code == 1 and "FIFO" in err and "Traceback" not in err, (args, err)
        assert listing(kh) == before, args
    code, out, err = kbackend(kh, "get", "floatx")
    assert code == 1 and "cannot tell" in err and out == ""


def test_fifo_with_a_writer_is_still_not_read_by_kbackend(kh):
    """A writer appearing does not make kbackend consume the data meant for Keras."""
    fifo = kh / "keras.json"
    os.mkfifo(fifo)
    fd = os.open(fifo, os.O_RDWR)  # a writer holds it open, nothing written yet
    try:
        doc = _show(kh)
        assert doc["file_status"] == "fifo"
    finally:
        os.close(fd)


def test_socket_keras_fails_with_enxio_as_kbackend_says(kh, installed):
    s = socket.socket(socket.AF_UNIX)
    path = kh / "keras.json"
    s.bind(str(path))
    try:
        theirs = keras_reads(kh)
        assert theirs["ok"] is False and theirs["error"].startswith("OSError: [Errno 6]")
        fs, j = _ours(path, installed)
        assert fs.status == "socket" and j.imports is False and j.keras_error == theirs["error"]
        before = listing(kh)
        code, _, err = kbackend(kh, "switch", "jax", "--force")
        assert code == 1 and "socket" in err and listing(kh) == before
    finally:
        s.close()


def test_link_to_dev_null_is_ignored_like_an_empty_file(kh, installed):
    (kh / "keras.json").symlink_to("/dev/null")
    theirs = keras_reads(kh)
    assert theirs["ok"] and theirs["floatx"] == "float32" and theirs["backend"] == "tensorflow"
    fs, j = _ours(kh / "keras.json", installed)
    assert fs.status == "char_device" and fs.detail == "null"
    assert j.imports is True and j.file_used is False
    assert [p.severity for p in j.problems if p.id == "file_devnull"] == ["ignored"]
    code, _, err = kbackend(kh, "switch", "jax", "--force")
    assert code == 1 and "character device" in err and os.readlink(kh / "keras.json") == "/dev/null"


def test_link_to_dev_zero_keras_never_returns_kbackend_answers(kh):
    (kh / "keras.json").symlink_to("/dev/zero")
    # Real Keras reads /dev/zero to its (absent) end: bounded here by a 1 GiB address-space limit.
    theirs = keras_reads(kh, timeout=20, memory=1 << 30)
    assert theirs.get("hang") or "MemoryError" in theirs.get("error", ""), theirs
    doc = _show(kh)
    assert doc["file_status"] == "char_device" and doc["imports"] is False
    assert "file_endless_device" in [p["id"] for p in doc["problems"]]
    assert kbackend(kh, "check")[0] == 1


def test_link_to_a_terminal_is_not_read(kh):
    (kh / "keras.json").symlink_to("/dev/tty")
    doc = _show(kh)  # never waits for input
    assert doc["file_status"] == "char_device" and doc["imports"] is None
    assert kbackend(kh, "check")[0] == 1


def test_file_swapped_for_a_fifo_after_the_stat_does_not_block(kh, monkeypatch):
    """The race: stat sees a regular file, open meets a FIFO. O_NONBLOCK + fstat decide."""
    path = kh / "keras.json"
    path.write_text("{}")
    real_open = os.open

    def swap_then_open(p, flags, *a):
        if str(p) == str(path) and not flags & (os.O_WRONLY | os.O_RDWR):
            os.unlink(path)
            os.mkfifo(path)
        return real_open(p, flags, *a)

    monkeypatch.setattr(store.os, "open", swap_then_open)
    assert store.read_state(str(path)).status == "fifo"


# ---------------------------------------------------------------- symlink loop


@pytest.mark.parametrize("loop", ["self", "pair", "dir"])
def test_symlink_loop_keras_uses_defaults_and_writes_nothing(kh, installed, loop):
    path = kh / "keras.json"
    if loop == "self":
        path.symlink_to(path)
    elif loop == "pair":
        path.symlink_to(kh / "other.json")
        (kh / "other.json").symlink_to(path)
    else:  # the directory on the way loops: KERAS_HOME/sub/keras.json with sub -> sub
        (kh / "sub").symlink_to(kh / "sub")
        path = kh / "sub" / "keras.json"
    home = path.parent
    before = listing(kh)
    theirs = keras_reads(home)
    assert theirs["ok"] and theirs["backend"] == "tensorflow" and theirs["floatx"] == "float32"
    assert listing(kh) == before  # Keras's own write fails with ELOOP
    fs, j = _ours(path, installed)
    assert fs.status == "symlink_loop"
    assert j.imports is True and j.file_used is False
    assert j.effective["backend"].value == "tensorflow" and j.effective["backend"].origin == "default"
    assert [p.severity for p in j.problems if p.id == "symlink_loop"] == ["ignored"]
    assert "dangling" not in " ".join(p.message for p in j.problems)
    code, _, err = kbackend(home, "switch", "jax", "--force")
    assert code == 1 and "symlink loop" in err and "Traceback" not in err
    assert listing(kh) == before


# ---------------------------------------------------------------- size


def test_file_over_16_mib_is_read_as_keras_reads_it(kh, installed):
    doc = {"backend": "jax", "epsilon": 1e-05, "pad": "x" * (17 << 20), "floatx": "float64"}
    (kh / "keras.json").write_text(json.dumps(doc))
    theirs = keras_reads(kh, timeout=60)
    assert theirs["ok"] and theirs["floatx"] == "float64" and theirs["epsilon"] == 1e-05
    fs, j = _ours(kh / "keras.json", installed)
    assert fs.status == "ok"
    assert j.effective["floatx"].value == "float64" and j.effective["epsilon"].value == 1e-05
    assert j.effective["backend"].value == theirs["backend"]


@pytest.mark.parametrize("version", [None, "2.15.0"])
def test_file_kbackend_does_not_read_is_never_judged_as_defaults(kh, installed, version):
    """Over kbackend's bound (a sparse file: no disk used), it says so instead of judging defaults."""
    path = kh / "keras.json"
    with open(path, "wb") as f:
        f.truncate(store.MAX_BYTES + 1)
    fs, j = _ours(path, installed, version)
    assert fs.status == "too_large"
    assert j.imports is None
    read_from_file = {k: v for k, v in j.effective.items() if k != "backend" or version is None}
    assert all(v.value is None and v.origin.startswith("unknown") for v in read_from_file.values())
    if version == "2.15.0":  # TensorFlow-only Keras 2: the backend does not come from the file
        assert j.effective["backend"].value == "tensorflow"
    assert any(p.severity == "unknown" and "did not read" in p.message for p in j.problems)
    code, out, _ = kbackend(kh, "check", "--json")
    assert code == 1 and json.loads(out)["ok"] is False and "file_too_large" in json.loads(out)["failures"]
    code, _, err = kbackend(kh, "set", "floatx", "float64")
    assert code == 1 and "more than kbackend reads" in err and path.stat().st_size == store.MAX_BYTES + 1


# ---------------------------------------------------------------- nesting


def _nested(depth: int, kind: str = "[") -> bytes:
    close = "]" if kind == "[" else "}"
    inner = kind if kind == "[" else '{"a":'
    return ('{"backend": "jax", "deep": ' + inner * depth + ("1" if kind == "{" else "") + close * depth + "}").encode()


@pytest.mark.parametrize("depth,kind", [(1000, "["), (100_000, "["), (5000, "{")])
def test_deep_nesting_fails_in_keras_as_kbackend_says(kh, installed, depth, kind):
    (kh / "keras.json").write_bytes(_nested(depth, kind))
    theirs = keras_reads(kh)
    assert theirs["ok"] is False and theirs["error"].startswith("RecursionError"), theirs
    fs, j = _ours(kh / "keras.json", installed)
    assert fs.status == "too_deep" and fs.depth >= depth
    assert j.imports is False and j.keras_error == theirs["error"]
    code, out, err = kbackend(kh, "check", "--json")
    assert code == 1 and "internal error" not in err and "file_too_deep" in json.loads(out)["failures"]
    before = listing(kh)
    code, _, err = kbackend(kh, "set", "floatx", "float64")
    assert code == 1 and "levels deep" in err and listing(kh) == before


def test_deep_nesting_real_import_keras(kh, installed):
    """A real `import keras` (not only its config.py) fails at 1000 levels on this Python."""
    (kh / "keras.json").write_bytes(_nested(1000))
    env = {k: v for k, v in os.environ.items() if not k.startswith("KERAS_")}
    env.update(KERAS_HOME=str(kh), KERAS_BACKEND="numpy", PYTHONSAFEPATH="1")
    p = subprocess.run([sys.executable, "-c", "import keras"], env=env, capture_output=True, text=True,
                       timeout=300, cwd="/")
    last = p.stderr.strip().splitlines()[-1]
    assert p.returncode != 0 and last.startswith("RecursionError")
    assert _ours(kh / "keras.json", installed)[1].keras_error == last


def test_depth_between_safe_and_the_limit_is_not_claimed_either_way(kh, installed):
    """700 levels: `python -c 'import keras'` parses it, a deeper caller's import may not."""
    (kh / "keras.json").write_bytes(_nested(700))
    theirs = keras_reads(kh)
    fs, j = _ours(kh / "keras.json", installed)
    assert theirs["ok"] is True  # at this call depth, it parses
    assert fs.status == "too_deep" and j.imports is None  # kbackend claims neither
    assert j.effective["backend"].value == "jax"  # what Keras uses when it parses
    assert kbackend(kh, "check")[0] == 1


def test_deep_nesting_on_an_unknown_newer_python_is_unknown(kh, installed):
    (kh / "keras.json").write_bytes(_nested(5000))
    fs = store.read_state(str(kh / "keras.json"))
    j = judge(fs, rules_for(_keras_version(installed)), {}, installed, python_version="3.13.1")
    assert j.imports is None and "cannot tell" in j.problems[0].message


def test_brackets_inside_strings_are_not_nesting(kh, installed):
    (kh / "keras.json").write_text(json.dumps({"backend": "jax", "note": "[" * 5000 + "{" * 5000}))
    fs, j = _ours(kh / "keras.json", installed)
    assert fs.status == "ok" and j.imports is True


# ---------------------------------------------------------------- NaN and Infinity


@pytest.mark.parametrize("literal,value", [("NaN", "nan"), ("Infinity", "inf"), ("-Infinity", "-inf"),
                                           ("-1e-05", -1e-05), ("0.0", 0.0)])
def test_nonsense_epsilon_keras_accepts_and_every_command_says_so(kh, installed, literal, value):
    (kh / "keras.json").write_text('{"epsilon": %s, "backend": "jax"}' % literal)
    theirs = keras_reads(kh)
    assert theirs["ok"] is True and theirs["epsilon"] == value  # Keras takes it as written
    fs, j = _ours(kh / "keras.json", installed)
    assert j.imports is True
    eps = j.effective["epsilon"].value
    assert (math.isnan(eps) and value == "nan") or repr(eps) == value or eps == value
    assert [p.severity for p in j.problems if p.key == "epsilon"] == ["warning"]
    code, out, _ = kbackend(kh, "check", "--json")
    assert code == 0 and json.loads(out)["imports"] is True
    assert kbackend(kh, "check", "--strict")[0] == 1


@pytest.mark.parametrize("raw", ["nan", "inf", "-inf", "Infinity", "-1e-5", "0"])
def test_set_nonsense_epsilon_refused_as_nonsense_not_as_rejected_by_keras(kh, raw):
    (kh / "keras.json").write_text('{"backend": "jax"}')
    before = listing(kh)
    code, _, err = kbackend(kh, "set", "epsilon", raw)
    assert code == 1 and listing(kh) == before
    assert "Keras accepts" in err and "would reject" not in err and "No such option" not in err
    code, _, err = kbackend(kh, "set", "epsilon", raw, "--force")
    assert code == 0, err
    assert "would reject" not in err and "Keras accepts" in err
    theirs = keras_reads(kh)  # what kbackend wrote is read by Keras, as the value given
    assert theirs["ok"] is True
    want = float(raw)
    got = theirs["epsilon"]
    assert (math.isnan(want) and got == "nan") or got == want or got == repr(want)


def test_set_other_key_over_a_nonsense_epsilon_is_not_refused(kh):
    (kh / "keras.json").write_text('{"epsilon": NaN}')
    code, _, err = kbackend(kh, "set", "floatx", "float64")
    assert code == 0 and "would reject" not in err
    assert "NaN" in (kh / "keras.json").read_text()


# ---------------------------------------------------------------- more of the class


@pytest.mark.parametrize("kind", ["fifo", "socket"])
def test_symlink_to_a_fifo_or_socket_is_judged_as_what_it_points_to(kh, tmp_path, kind):
    target = tmp_path / f"elsewhere.{kind}"
    s = None
    if kind == "fifo":
        os.mkfifo(target)
    else:
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(target))
    (kh / "keras.json").symlink_to(target)
    try:
        theirs = keras_reads(kh, timeout=3)
        doc = _show(kh)
        assert doc["file_status"] == kind
        if kind == "fifo":
            assert theirs == {"hang": True} and doc["imports"] is False
        else:
            assert theirs["error"] == doc["keras_error"]
        before = listing(kh)
        assert kbackend(kh, "switch", "jax", "--force")[0] == 1 and listing(kh) == before
    finally:
        if s:
            s.close()


def test_keras_home_is_a_file_keras_uses_defaults_and_cannot_create(tmp_path, installed):
    home = tmp_path / "notadir"
    home.write_text("x")
    theirs = keras_reads(home)
    assert theirs["ok"] and theirs["backend"] == "tensorflow"
    fs, j = _ours(home / "keras.json", installed)
    assert fs.status == "missing" and j.imports is True
    assert "cannot create" in j.problems[0].message
    assert home.read_text() == "x"


def test_deep_and_malformed_says_which_error_keras_meets_first(kh, installed):
    # The depth limit comes first (kbackend's own parser met it too): RecursionError.
    (kh / "keras.json").write_bytes(_nested(2000)[:-1])  # the closing brace missing
    fs, j = _ours(kh / "keras.json", installed)
    theirs = keras_reads(kh)
    assert theirs["ok"] is False and theirs["error"].startswith("RecursionError")
    assert fs.status == "too_deep" and j.imports is False and j.keras_error == theirs["error"]
    # The syntax error comes first, shallow: Keras ignores the file, as for any malformed file.
    (kh / "keras.json").write_bytes(b'{"a": x, "deep": ' + b"[" * 2000 + b"]" * 2000 + b"}")
    fs, j = _ours(kh / "keras.json", installed)
    theirs = keras_reads(kh)
    assert theirs["ok"] is True and theirs["backend"] == "tensorflow"
    assert fs.status == "malformed" and j.imports is True and j.file_used is False
    # The syntax error comes 700 levels deep: whether the parser's limit comes first depends on the caller.
    (kh / "keras.json").write_bytes(b'{"deep": ' + b"[" * 700 + b"x" + b"]" * 700 + b"}")
    fs, j = _ours(kh / "keras.json", installed)
    assert fs.status == "too_deep" and j.imports is None
    assert "RecursionError" in j.problems[0].message and "ignores" in j.problems[0].message


@pytest.mark.parametrize("args", [("doctor", "--json", "--check", "config"), ("envs", "--json"),
                                  ("run", "--floatx", "float64", "--", sys.executable, "-c", "pass")])
def test_other_commands_never_block_on_a_fifo(kh, args):
    os.mkfifo(kh / "keras.json")
    code, out, err = kbackend(kh, *args, timeout=120)
    assert "Traceback" not in err and code in (0, 1), err
    if args[0] == "envs":
        here = [e for e in json.loads(out)["environments"] if e["config_path"] == str(kh / "keras.json")]
        assert here and all(e["backend"]["value"] is None and e["backend"]["origin"].startswith("unknown")
                            for e in here if e["backend"])
