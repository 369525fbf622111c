"""Ask real Keras what it does with a keras.json and an environment.

Runs as a child of the test session in the test interpreter. It executes the
real `keras/src/backend/config.py` source of the installed Keras (with its two
kbackend-irrelevant imports, `keras_export` and `global_state`, stubbed so
that no backend is imported), then applies the backend name check of the real
`keras/src/backend/__init__.py` (its `backend() == "..."` chain, read from the
source). One JSON request per stdin line, one JSON answer per stdout line.

Request: {"raw": base64 bytes or null (no file), "env": {...}, "cwd_home": bool}
Answer: {"ok": bool, "error": "Type: message" | null, "floatx", "epsilon",
"backend", "image_data_format", "nnx_enabled", "config_path"}
"""

import base64
import importlib.util
import json
import math
import os
import re
import sys
import tempfile
import types

# KBACKEND_ORACLE_KERAS_DIR: the `keras` folder of another Keras release (unpacked from its wheel).
KERAS_DIR = os.environ.get("KBACKEND_ORACLE_KERAS_DIR") or os.path.dirname(importlib.util.find_spec("keras").origin)
CONFIG_PY = os.path.join(KERAS_DIR, "src", "backend", "config.py")
INIT_PY = os.path.join(KERAS_DIR, "src", "backend", "__init__.py")
CONFIG_SRC = compile(open(CONFIG_PY).read(), CONFIG_PY, "exec")
BACKEND_NAMES = set(re.findall(r'elif backend\(\) == "(\w+)"|if backend\(\) == "(\w+)":\n    from', open(INIT_PY).read()))
BACKEND_NAMES = {a or b for a, b in BACKEND_NAMES}


def _stub(name, **attrs):
    m = types.ModuleType(name)
    m.__dict__.update(attrs)
    sys.modules[name] = m
    return m


_stub("keras", __path__=[])
_stub("keras.src", __path__=[])
_stub("keras.src.api_export", keras_export=lambda *a, **k: (lambda f: f))
_stub("keras.src.backend", __path__=[])
_stub("keras.src.backend.common", __path__=[])
gs = _stub("keras.src.backend.common.global_state", set_global_attribute=lambda *a, **k: None,
           get_global_attribute=lambda *a, **k: None)
sys.modules["keras.src.backend.common"].global_state = gs

MODULE_OF = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch", "numpy": "jax", "openvino": "openvino"}


def _jsonable(v):
    if isinstance(v, float) and not math.isfinite(v):
        return repr(v)
    return v


def answer(req):
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("KERAS_")}
    with tempfile.TemporaryDirectory() as tmp:
        home = os.path.join(tmp, "kh")
        os.makedirs(home)
        env = dict(base_env)
        env["KERAS_HOME"] = home
        env.update(req.get("env", {}))
        if req.get("raw") is not None:
            with open(os.path.join(home, "keras.json"), "wb") as f:
                f.write(base64.b64decode(req["raw"]))
        old_env, old_cwd = dict(os.environ), os.getcwd()
        os.environ.clear()
        os.environ.update(env)
        os.chdir(tmp)
        ns = {"__name__": "keras.src.backend.config"}
        out = {"ok": True, "error": None}
        growth = None
        try:
            exec(CONFIG_SRC, ns)
            growth = os.environ.get("TF_FORCE_GPU_ALLOW_GROWTH")  # Keras sets it itself unless the backend is tensorflow
            b = ns["backend"]()
            if not any(b == n for n in BACKEND_NAMES):  # Keras compares with ==, never hashes
                raise ValueError(f"Unable to import backend : {b}")
            if importlib.util.find_spec(MODULE_OF[b]) is None:
                raise ModuleNotFoundError(f"No module named '{MODULE_OF[b]}'")
        except Exception as e:  # noqa: BLE001 - what Keras raises is the answer
            out = {"ok": False, "error": f"{type(e).__name__}: {e}" if str(e) else type(e).__name__}
        finally:
            os.environ.clear()
            os.environ.update(old_env)
            os.chdir(old_cwd)
        if out["ok"]:
            out.update(
                floatx=ns["floatx"](), epsilon=_jsonable(ns["epsilon"]()), backend=ns["backend"](),
                image_data_format=ns["image_data_format"](), nnx_enabled=ns["is_nnx_enabled"]() if "is_nnx_enabled" in ns else None,
                max_epochs=ns.get("_MAX_EPOCHS"), max_steps_per_epoch=ns.get("_MAX_STEPS_PER_EPOCH"),
                allow_growth=growth,
            )
        out["config_path"] = os.path.normpath(os.path.join(tmp, ns["_config_path"])) if "_config_path" in ns else None
        out["tmp"] = tmp
        return out


def main():
    print(json.dumps({"ready": True, "backends": sorted(BACKEND_NAMES), "home": os.environ["HOME"]}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        print(json.dumps(answer(json.loads(line))), flush=True)


if __name__ == "__main__":
    main()
