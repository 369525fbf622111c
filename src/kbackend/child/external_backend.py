"""Worker: does a Keras 2.2-2.3 external backend module import, with the entries Keras requires?

Standard library only; Python 2.7-compatible.
"""

import importlib

REQUIRED = ["placeholder", "variable", "function"]


def main(inp):
    name = inp["module"]
    try:
        mod = importlib.import_module(name)
    except Exception as e:  # noqa: BLE001 - any failure means Keras cannot import it either
        return {"imported": False, "error": "%s: %s" % (type(e).__name__, e)}
    entries = mod.__dict__
    return {"imported": True, "missing": [e for e in REQUIRED if e not in entries]}
