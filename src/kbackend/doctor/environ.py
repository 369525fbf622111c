"""The environment variables doctor looks at: an explicit list per framework, and secret names.

Only variables that Keras, a backend, CUDA or the loader really read are kept
(part of the probe cache key, of `doctor --json`'s facts and of `--report`).
No prefix is matched: `TF_*` also names Terraform's variables
(`TF_CLI_CONFIG_FILE`, `TF_TOKEN_app_terraform_io`, `TF_VAR_db_password`), and
those are neither TensorFlow's nor anybody's business in a bug report.

>>> relevant_environ({"TF_CPP_MIN_LOG_LEVEL": "3", "TF_CLI_CONFIG_FILE": "/h/.terraformrc", "TF_VAR_x": "1"})
{'TF_CPP_MIN_LOG_LEVEL': '3'}
>>> looks_secret("TF_TOKEN_app_terraform_io"), looks_secret("KERAS_BACKEND"), looks_secret("AWS_ACCESS_KEY_ID")
(True, False, True)
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from kbackend.backends import REGISTRY

#: framework -> the variables it reads that change what it imports, finds or does
#: (names checked against the frameworks' own sources: keras/src/backend/config.py,
#: jax/_src/config.py, tensorflow's C++ runtime and lazy_loader.py, torch's allocator).
KNOWN: dict[str, tuple[str, ...]] = {
    "keras": (
        "KERAS_BACKEND", "KERAS_HOME", "KERAS_NNX_ENABLED", "KERAS_MAX_EPOCHS", "KERAS_MAX_STEPS_PER_EPOCH",
        "KERAS_TORCH_DEVICE", "KERAS_DISTRIBUTION_JOB_ADDRESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES",
        "KERAS_DISTRIBUTION_PROCESS_ID",
    ),
    # each backend's own variables: the registry's `env_vars` (kbackend/backends.py)
    **{b.name: b.env_vars for b in REGISTRY.values() if b.env_vars},
    "xla": (
        "XLA_FLAGS", "XLA_PYTHON_CLIENT_PREALLOCATE", "XLA_PYTHON_CLIENT_MEM_FRACTION", "XLA_CLIENT_MEM_FRACTION",
        "XLA_PYTHON_CLIENT_ALLOCATOR", "LIBTPU_INIT_ARGS", "TPU_NAME", "PJRT_DEVICE",
    ),
    "cuda": (
        "CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "CUDA_LAUNCH_BLOCKING", "CUDA_MODULE_LOADING", "CUDA_HOME",
        "CUDA_PATH", "CUDA_CACHE_PATH", "CUDA_CACHE_DISABLE", "CUDA_CACHE_MAXSIZE", "NVIDIA_VISIBLE_DEVICES",
        "NVIDIA_DRIVER_CAPABILITIES", "NVIDIA_TF32_OVERRIDE", "CUDNN_LOGINFO_DBG", "CUDNN_LOGDEST_DBG",
        "NCCL_DEBUG", "HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES",
    ),
    "python": (
        "PYTHONPATH", "PYTHONHOME", "PYTHONNOUSERSITE", "LD_LIBRARY_PATH", "LD_PRELOAD", "DYLD_LIBRARY_PATH",
        "CONDA_PREFIX", "VIRTUAL_ENV", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
    ),
}
NAMES: frozenset[str] = frozenset(n for names in KNOWN.values() for n in names)

#: words that make a name secret where a part of it (between _ - . digits or a camelCase
#: hump) ends with them, plural included: GITHUB_TOKEN, MYTOKEN, PGPASSWORD, CLIENT_SECRETS;
#: not TOKENIZERS_PARALLELISM or SECRETARY, where the word goes on.
SECRET_WORDS = ("TOKEN", "SECRET", "PASSWORD", "PASSWD", "PASSPHRASE", "CREDENTIAL", "COOKIE", "APIKEY",
                "ACCESSKEY", "PRIVATEKEY", "AUTHORIZATION", "BEARER", "AUTHTOKEN")
#: parts that make a name secret only as a whole part: KEY is a secret in AWS_SECRET_KEY or
#: KAGGLE_KEY, not in KEYBOARD, MONKEY_PATCH or KERAS_BACKEND.
SECRET_PARTS = frozenset({"KEY", "KEYS", "PASS", "PWD", "AUTH", "CREDS", "CRED", "SESSION", "SESSIONID", "SID",
                          "DSN", "SIGNATURE", "SIG", "OAUTH", "JWT", "SALT", "PRIVATE", "CERT", "PEM"})
_PARTS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def looks_secret(name: str) -> bool:
    """Whether a variable (or key) of this name may hold a secret: its value is never reported.

    >>> [looks_secret(n) for n in ("GITHUB_TOKEN", "db_password", "KAGGLE_KEY", "MY_API_KEY", "apiKey", "AUTH")]
    [True, True, True, True, True, True]
    >>> [looks_secret(n) for n in ("KERAS_BACKEND", "KEYBOARD", "TOKENIZERS_PARALLELISM", "AUTHOR", "HOTKEYS_ON")]
    [False, False, False, False, False]
    """
    parts = [p.upper() for chunk in re.split(r"[^A-Za-z0-9]+", name) for p in _PARTS.findall(chunk)]
    for p in parts:
        if p in SECRET_PARTS or any(p.endswith((w, w + "S")) for w in SECRET_WORDS):
            return True
    return False


def relevant_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """The variables of `environ` that Keras, the backends, CUDA or the loader read (sorted).

    >>> relevant_environ({"KERAS_BACKEND": "jax", "HOME": "/h", "LD_LIBRARY_PATH": "/x", "TF_TOKEN_x": "s"})
    {'KERAS_BACKEND': 'jax', 'LD_LIBRARY_PATH': '/x'}
    """
    return {k: v for k, v in sorted(environ.items()) if k in NAMES and not looks_secret(k)}
