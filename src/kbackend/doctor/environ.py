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

#: framework -> the variables it reads that change what it imports, finds or does
#: (names checked against the frameworks' own sources: keras/src/backend/config.py,
#: jax/_src/config.py, tensorflow's C++ runtime and lazy_loader.py, torch's allocator).
KNOWN: dict[str, tuple[str, ...]] = {
    "keras": (
        "KERAS_BACKEND", "KERAS_HOME", "KERAS_NNX_ENABLED", "KERAS_MAX_EPOCHS", "KERAS_MAX_STEPS_PER_EPOCH",
        "KERAS_TORCH_DEVICE", "KERAS_DISTRIBUTION_JOB_ADDRESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES",
        "KERAS_DISTRIBUTION_PROCESS_ID",
    ),
    "tensorflow": (
        "TF_USE_LEGACY_KERAS", "TF_CPP_MIN_LOG_LEVEL", "TF_CPP_MAX_VLOG_LEVEL", "TF_CPP_VMODULE",
        "TF_ENABLE_ONEDNN_OPTS", "TF_FORCE_GPU_ALLOW_GROWTH", "TF_GPU_ALLOCATOR", "TF_XLA_FLAGS",
        "TF_NUM_INTEROP_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_DETERMINISTIC_OPS", "TF_CUDNN_DETERMINISTIC",
        "TF_CUDNN_USE_AUTOTUNE", "TF_GPU_THREAD_MODE", "TF_GPU_THREAD_COUNT", "TF_FORCE_UNIFIED_MEMORY",
        "TF_GPU_HOST_MEM_LIMIT_IN_MB", "TF_PER_DEVICE_MEMORY_LIMIT_MB", "TF_ENABLE_GPU_GARBAGE_COLLECTION",
        "TF2_BEHAVIOR",
    ),
    "jax": (
        "JAX_PLATFORMS", "JAX_PLATFORM_NAME", "JAX_ENABLE_X64", "JAX_CUDA_VISIBLE_DEVICES",
        "JAX_ROCM_VISIBLE_DEVICES", "JAX_NUM_CPU_DEVICES", "JAX_DEFAULT_DEVICE", "JAX_DEFAULT_MATMUL_PRECISION",
        "JAX_DISABLE_JIT", "JAX_DEBUG_NANS", "JAX_DEBUG_INFS", "JAX_TRACEBACK_FILTERING", "JAX_LOG_COMPILES",
        "JAX_ENABLE_COMPILATION_CACHE", "JAX_COMPILATION_CACHE_DIR", "JAX_COMPILATION_CACHE_MAX_SIZE",
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES",
        "JAX_SKIP_CUDA_CONSTRAINTS_CHECK",
    ),
    "xla": (
        "XLA_FLAGS", "XLA_PYTHON_CLIENT_PREALLOCATE", "XLA_PYTHON_CLIENT_MEM_FRACTION", "XLA_CLIENT_MEM_FRACTION",
        "XLA_PYTHON_CLIENT_ALLOCATOR", "LIBTPU_INIT_ARGS", "TPU_NAME", "PJRT_DEVICE",
    ),
    "torch": (
        "PYTORCH_CUDA_ALLOC_CONF", "PYTORCH_ALLOC_CONF", "PYTORCH_HIP_ALLOC_CONF", "PYTORCH_NO_CUDA_MEMORY_CACHING",
        "PYTORCH_NVML_BASED_CUDA_CHECK", "PYTORCH_ENABLE_MPS_FALLBACK", "PYTORCH_JIT", "TORCH_HOME", "TORCH_LOGS",
        "TORCH_SHOW_CPP_STACKTRACES", "TORCH_USE_CUDA_DSA", "TORCH_COMPILE_DISABLE", "TORCHDYNAMO_DISABLE",
        "TORCH_DEVICE_BACKEND_AUTOLOAD", "CUBLAS_WORKSPACE_CONFIG",
    ),
    "openvino": ("OPENVINO_LOG_LEVEL", "OPENVINO_LIB_PATHS"),
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
