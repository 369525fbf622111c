import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time

import pytest

from kbackend.config import store
from kbackend.errors import ConfigWriteError


def _doc(path):
    with open(path) as f:
        return json.load(f)


@pytest.mark.parametrize(
    "raw,status",
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b'{"floatx": "float32",', "malformed"),
        (b'\xef\xbb\xbf{"floatx": "float32"}', "bom"),
        (b'{"floatx": "\xff"}', "not_utf8"),
        (b"[1, 2]", "not_object"),
        (b'"jax"', "not_object"),
        (b"null", "not_object"),
        (b'{"backend": "jax"}', "ok"),
        (b'{"epsilon": NaN}', "ok"),
    ],
)
def test_parse_classifies_like_json_load(raw, status, tmp_path):
    p = tmp_path / "keras.json"
    p.write_bytes(raw)
    st = store.read_state(str(p))
    assert st.status == status
    # The classification agrees with what `json.load(open(path))` does.
    try:
        with open(p) as f:
            doc = json.load(f)
        assert status in ("ok", "not_object")
        assert (st.data if status == "ok" else st.other) == doc
    except ValueError:
        assert status in ("empty", "malformed", "bom", "not_utf8")


def test_missing_directory_dangling_symlink_unreadable(tmp_path):
    assert store.read_state(str(tmp_path / "nope.json")).status == "missing"
    d = tmp_path / "dir.json"
    d.mkdir()
    assert store.read_state(str(d)).status == "is_directory"
    link = tmp_path / "link.json"
    link.symlink_to(tmp_path / "gone.json")
    st = store.read_state(str(link))
    assert st.status == "dangling_symlink" and st.is_symlink


def test_too_large(tmp_path, monkeypatch):
    monkeypatch.setattr(store, "MAX_BYTES", 100)
    p = tmp_path / "keras.json"
    p.write_text(json.dumps({"x": "y" * 200}))
    assert store.read_state(str(p)).status == "too_large"


def _set(key, value):
    def mutate(old):
        d = dict(old.data or {})
        d[key] = value
        return d

    return mutate


def test_update_preserves_order_unknown_keys_indent_and_mode(tmp_path):
    p = tmp_path / "keras.json"
    p.write_text('{\n  "zeta": [1, 2],\n  "floatx": "float32",\n  "backend": "tensorflow"\n}\n')
    os.chmod(p, 0o640)
    old, doc, bak = store.update(str(p), _set("backend", "jax"))
    text = p.read_text()
    assert list(json.loads(text)) == ["zeta", "floatx", "backend"]
    assert json.loads(text)["zeta"] == [1, 2]
    assert text.startswith('{\n  "zeta"')  # two-space indent kept
    assert text.endswith("}\n")  # trailing newline kept
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o640
    assert bak == str(p) + ".bak" and _doc(bak)["backend"] == "tensorflow"


def test_new_file_is_written_like_keras(tmp_path):
    p = tmp_path / "sub" / "keras.json"
    store.update(str(p), lambda old: {"floatx": "float32", "epsilon": 1e-07})
    text = p.read_text()
    assert text == json.dumps({"floatx": "float32", "epsilon": 1e-07}, indent=4)


def test_symlink_is_written_through(tmp_path):
    real = tmp_path / "real" / "keras.json"
    real.parent.mkdir()
    real.write_text('{"backend": "tensorflow"}')
    link = tmp_path / "keras.json"
    link.symlink_to(real)
    store.update(str(link), _set("backend", "torch"))
    assert link.is_symlink()
    assert _doc(real)["backend"] == "torch"


def test_directory_in_the_way_is_refused(tmp_path):
    d = tmp_path / "keras.json"
    d.mkdir()
    with pytest.raises(ConfigWriteError, match="is a directory"):
        store.update(str(d), _set("backend", "jax"))
    assert d.is_dir()


def test_read_only_directory_refused_cleanly(tmp_path, monkeypatch):
    p = tmp_path / "keras.json"
    p.write_text('{"backend": "tensorflow"}')

    def deny(*a, **k):
        raise PermissionError(13, "Permission denied", str(tmp_path))

    monkeypatch.setattr(store.tempfile, "mkstemp", deny)
    with pytest.raises(ConfigWriteError, match="permission denied"):
        store.update(str(p), _set("backend", "jax"))
    assert _doc(p)["backend"] == "tensorflow"


def test_failed_replace_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    p = tmp_path / "keras.json"
    p.write_text('{"backend": "tensorflow"}')
    real_replace = os.replace

    def boom(src, dst):
        if dst == str(p):
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(store.os, "replace", boom)
    with pytest.raises(ConfigWriteError):
        store.update(str(p), _set("backend", "jax"))
    assert _doc(p) == {"backend": "tensorflow"}
    assert [f for f in os.listdir(tmp_path) if f.endswith(".tmp")] == []


def test_mutate_raising_aborts_without_change(tmp_path):
    p = tmp_path / "keras.json"
    p.write_text('{"backend": "tensorflow"}')

    def refuse(old):
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        store.update(str(p), refuse)
    assert p.read_text() == '{"backend": "tensorflow"}'


WRITER = textwrap.dedent(
    """
    import sys
    from kbackend.config import store
    path, key, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    for i in range(n):
        def mutate(old, i=i):
            d = dict(old.data or {})
            d[key] = i
            return d
        store.update(path, mutate)
    """
)


def test_concurrent_writers_lose_no_update(tmp_path):
    p = tmp_path / "keras.json"
    p.write_text("{}")
    n_proc, n_iter = 6, 15
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(p), f"k{j}", str(n_iter)]) for j in range(n_proc)
    ]
    for pr in procs:
        assert pr.wait(timeout=120) == 0
    doc = _doc(p)
    # Every writer's read-modify-write landed: no update was lost to a race.
    assert doc == {f"k{j}": n_iter - 1 for j in range(n_proc)}


KILLED = textwrap.dedent(
    """
    import sys
    from kbackend.config import store
    path = sys.argv[1]
    i = 0
    while True:
        i += 1
        store.update(path, lambda old, i=i: {"backend": "jax", "n": i, "pad": "x" * 200000})
    """
)


def test_writer_killed_mid_write_leaves_a_valid_file(tmp_path):
    p = tmp_path / "keras.json"
    p.write_text('{"backend": "tensorflow"}')
    seen_new = False
    for delay in (0.3, 0.45, 0.6, 0.8, 1.0):
        pr = subprocess.Popen([sys.executable, "-c", KILLED, str(p)])
        time.sleep(delay)
        pr.send_signal(signal.SIGKILL)
        pr.wait()
        doc = _doc(p)  # always parses: either the old or a complete new document
        assert doc["backend"] in ("tensorflow", "jax")
        if doc["backend"] == "jax":
            seen_new = True
            assert len(doc["pad"]) == 200000
    assert seen_new, "the writer never completed a write before being killed: the test proved nothing"
    # The next write under the lock sweeps the temp files the killed writers left.
    store.update(str(p), lambda old: {"backend": "torch"})
    assert [f for f in os.listdir(tmp_path) if f.endswith(".tmp")] == []
    assert _doc(p) == {"backend": "torch"}
