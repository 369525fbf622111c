"""Bootstrap of every kbackend worker, run by path in the target interpreter.

Standard library only, and Python 2.7/3.5-compatible syntax, because the target
may be a legacy environment and never has kbackend installed.

    python _boot.py WORKER.py INPUT.json RESULT.json

It loads WORKER.py by path, calls its `main(input_dict)`, and writes one JSON
document to RESULT.json: {"protocol": 1, "worker": ..., "status": ..., "data": ...,
"error": ...}. The worker's (and its libraries') stdout and stderr are never the
channel: they are kept by the parent as a log.
"""

import json
import os
import sys
import time
import traceback

PROTOCOL = 1


def _write(path, doc):
    tmp = path + ".part"
    with open(tmp, "w") as f:
        json.dump(doc, f, default=repr)
    os.rename(tmp, path)


def _load(path):
    name = "kbackend_worker_" + os.path.splitext(os.path.basename(path))[0]
    try:
        import importlib.util

        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    except (ImportError, AttributeError):  # Python 2.7
        import imp

        return imp.load_source(name, path)


def call(fn, inp, worker):
    """The result document of `fn(inp)`: its value as "data", or the error that ended it (also used by
    bench_worker's serve mode for the processes it forks)."""
    doc = {"protocol": PROTOCOL, "worker": worker, "status": "ok", "data": None, "error": None}
    t0 = time.time()
    try:
        doc["data"] = fn(inp)
    except ImportError as e:
        doc["status"] = "import_error"
        doc["error"] = "%s: %s" % (type(e).__name__, e)
        doc["traceback"] = traceback.format_exc()
    except BaseException as e:  # noqa: BLE001 - report everything, the parent decides
        doc["status"] = "error"
        doc["error"] = "%s: %s" % (type(e).__name__, e)
        doc["traceback"] = traceback.format_exc()
    doc["elapsed_s"] = time.time() - t0
    return doc


def main():
    worker, inp_path, out_path = sys.argv[1:4]
    # Never import a package from the current directory or the worker's folder.
    for p in ("", ".", os.getcwd(), os.path.dirname(os.path.abspath(worker))):
        while p in sys.path:
            sys.path.remove(p)
    with open(inp_path) as f:
        inp = json.load(f)
    _write(out_path, call(lambda i: _load(worker).main(i), inp, os.path.basename(worker)))
    sys.stdout.flush()
    sys.stderr.flush()


if __name__ == "__main__":
    main()
