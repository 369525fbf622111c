"""`doctor --report` is pasted into public issue trackers: nothing in it may identify the
machine or its user, or carry a secret (issue 11, items 8, 9 and 10).

- the environment kept is an explicit list of what the frameworks read: Terraform's `TF_*`
  (`TF_CLI_CONFIG_FILE`, `TF_TOKEN_app_terraform_io`, `TF_VAR_db_password`) is not TensorFlow's;
- a value whose name looks like a secret is never printed;
- with --report, the whole --json document is redacted (every string, dict keys too):
  the home directory (trailing slash, symlinked), the user name as a path component or a
  whole word (never inside other words: users "a" and "ai"), GPU/MIG UUIDs whole or partial.
"""

from __future__ import annotations

import json
import os
import re

import pytest
from gpu_fakes import fake_smi  # noqa: F401

from kbackend.doctor.environ import KNOWN, NAMES, looks_secret, relevant_environ
from kbackend.render.redact import Redactor

NO_PROBE = ("--check", "config", "--check", "keras", "--check", "gpu-visible-devices")


# ---------------------------------------------------------------------- which variables


TERRAFORM = {
    "TF_CLI_CONFIG_FILE": "/home/ann/.terraformrc", "TF_TOKEN_app_terraform_io": "atlasv1.s3cr3t",
    "TF_VAR_db_password": "hunter2", "TF_VAR_region": "eu-west-1", "TF_LOG": "TRACE", "TF_LOG_PATH": "/tmp/tf.log",
    "TF_WORKSPACE": "prod", "TF_IN_AUTOMATION": "1", "TF_DATA_DIR": "/srv/tf", "TF_PLUGIN_CACHE_DIR": "/srv/plugins",
    "TF_INPUT": "0", "TF_CLI_ARGS": "-no-color", "TF_CLI_ARGS_plan": "-refresh=false", "TF_REGISTRY_DISCOVERY_RETRY": "3",
    "TF_IGNORE": "trace", "TF_APPEND_USER_AGENT": "ci",
}
TENSORFLOW = {"TF_CPP_MIN_LOG_LEVEL": "3", "TF_USE_LEGACY_KERAS": "1", "TF_ENABLE_ONEDNN_OPTS": "0",
              "TF_FORCE_GPU_ALLOW_GROWTH": "true", "TF_XLA_FLAGS": "--tf_xla_auto_jit=2"}


def test_terraform_variables_are_not_tensorflows():
    kept = relevant_environ({**TERRAFORM, **TENSORFLOW, "HOME": "/home/ann", "PATH": "/bin", "USER": "ann"})
    assert kept == dict(sorted(TENSORFLOW.items()))


@pytest.mark.parametrize("name", ["TF_TOKEN_x", "JAX_SECRET", "KERAS_API_KEY", "CUDA_PASSWORD", "XLA_AUTH",
                                  "TORCH_COOKIE", "PYTORCH_SESSION", "TF_CREDENTIALS"])
def test_a_prefix_is_not_enough(name):
    """Names that share a framework's prefix but are no variable of it are dropped."""
    assert relevant_environ({name: "v", "KERAS_BACKEND": "jax"}) == {"KERAS_BACKEND": "jax"}


def test_the_list_is_explicit_and_holds_no_secret_name():
    assert set(KNOWN) >= {"keras", "tensorflow", "jax", "torch", "openvino", "cuda"}
    assert not [n for n in NAMES if looks_secret(n)]
    assert not [n for n in NAMES if not re.fullmatch(r"[A-Z][A-Z0-9_]*", n)]
    assert "TF_CLI_CONFIG_FILE" not in NAMES and "KERAS_BACKEND" in NAMES


SECRET_NAMES = [
    "TF_TOKEN_app_terraform_io", "TF_VAR_db_password", "GITHUB_TOKEN", "GH_TOKEN", "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN", "WANDB_API_KEY", "OPENAI_API_KEY", "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID",
    "AWS_SESSION_TOKEN", "KAGGLE_KEY", "DB_PASS", "DB_PWD", "MYSQL_PWD", "PGPASSWORD", "PASSWD", "SMTP_PASSWD",
    "ssh_passphrase", "GOOGLE_APPLICATION_CREDENTIALS", "AZURE_CLIENT_SECRET", "NPM_AUTH", "SSH_AUTH_SOCK",
    "HTTP_AUTHORIZATION", "BEARER", "SESSION_COOKIE", "SESSIONID", "COOKIE", "apiKey", "secretKey", "Api-Key",
    "private.key", "SIGNING_KEY", "TWINE_PASSWORD", "CI_JOB_TOKEN", "SENTRY_DSN", "JWT", "X_AUTH_TOKEN",
    "MYTOKEN", "DOCKER_PASS", "KEY", "KEY1", "ENCRYPTION_KEY_2", "CREDS", "SLACK_BOT_TOKEN",
]
PLAIN_NAMES = [
    "KERAS_BACKEND", "KERAS_HOME", "KERAS_MAX_STEPS_PER_EPOCH", "KEYBOARD", "KEYMAP", "MONKEY_PATCH", "HOTKEYS",
    "TURKEY", "DONKEY_KONG", "AUTHOR", "AUTHORS_FILE", "TF_CPP_MIN_LOG_LEVEL", "XLA_FLAGS", "CUDA_VISIBLE_DEVICES",
    "PYTHONPATH", "LD_LIBRARY_PATH", "TOKENIZERS_PARALLELISM", "TOKENIZER_PATH", "SECRETARY", "JAX_ENABLE_X64",
    "PASSTHROUGH",
    "COMPASS", "BYPASS_CACHE", "KEYSTONE_URL",
]


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_secret_looking_names(name):
    assert looks_secret(name)


@pytest.mark.parametrize("name", PLAIN_NAMES)
def test_names_that_only_contain_a_secret_word_inside_another(name):
    # KEY inside KEYBOARD, MONKEY or KEYSTONE; PASS inside COMPASS; AUTH inside AUTHOR
    assert not looks_secret(name), name


# ---------------------------------------------------------------------- the redactor


def test_partial_and_whole_uuids_go():
    r = Redactor(homes=[], users=[])
    for s in ("GPU-8f3a", "GPU-8f3a1c0e", "GPU-8f3a1c0e-1111", "GPU-3a1f2c4d-1111-2222-3333-444455556666",
              "MIG-4f2a", "MIG-3a1f2c4d-1111-2222-3333-444455556666", "MIG-GPU-3a1f2c4d-1111-2222-3333-444455556666/1/0",
              "3a1f2c4d-1111-2222-3333-444455556666"):
        assert r.text(s) == "<uuid>", s
        assert r.text(f"CUDA_VISIBLE_DEVICES=0,{s},1") == "CUDA_VISIBLE_DEVICES=0,<uuid>,1"
    smi = "GPU 0: NVIDIA A100 (UUID: GPU-3a1f2c4d-1111-2222-3333-444455556666)\n  MIG 1g.5gb Device 0: (UUID: MIG-4f2a1c0e-aaaa-bbbb-cccc-ddddeeeeffff)"
    out = r.text(smi)
    assert "3a1f2c4d" not in out and "4f2a1c0e" not in out and "NVIDIA A100" in out and "MIG 1g.5gb" in out


def test_words_that_look_like_ids_stay():
    r = Redactor(homes=[], users=[])
    for s in ("GPU-accelerated", "GPU-based", "a GPU", "GPU 0", "MIG-enabled", "cudaGetDevice", "CPU-bound"):
        assert r.text(s) == s


@pytest.mark.parametrize("user", ["a", "ai", "an", "root", "ann", "j.doe", "x-y", "user"])
def test_a_user_name_goes_only_as_a_path_component_or_a_whole_word(user):
    r = Redactor(homes=[], users=[user])
    text = (f"a paint cart; AI and ai-based again; /scratch/{user}/data; /home/other-mount/{user}; "
            f"/srv/{user}x/y; /srv/x{user}/y; /opt/{user}.d/conf")
    out = r.text(text)
    assert "/scratch/<user>/data" in out and out.count("/home/other-mount/<user>") == 1
    assert f"/srv/{user}x/y" in out and f"/srv/x{user}/y" in out and f"/opt/{user}.d/conf" in out
    assert "paint cart" in out and "again" in out  # nothing inside other words
    if len(user) < 3:
        assert out.startswith("a paint cart; AI and ai-based")  # short names: path components only
    assert r.text(out) == out  # idempotent: a second pass changes nothing (<user> stays)


def test_a_whole_word_user_name_goes():
    r = Redactor(homes=[], users=["annabel"])
    assert r.text("owner annabel, annabel@host, annabel's, annabelle, x-annabel") == \
        "owner <user>, <user>@host, <user>'s, annabelle, x-annabel"


def test_home_trailing_slash_symlink_and_prefixes(tmp_path):
    real = tmp_path / "data" / "users" / "ann"
    real.mkdir(parents=True)
    link = tmp_path / "mnt" / "ann"
    link.parent.mkdir()
    link.symlink_to(real)
    r = Redactor(homes=[str(link) + "/"], users=[])
    assert r.text(f"{link}/venv {real}/venv {link}") == "~/venv ~/venv ~"
    assert r.text(f"{link}ie/x {link}.bak {tmp_path}/mnt/annex") == f"{link}ie/x {link}.bak {tmp_path}/mnt/annex"
    assert r.text(f"file://{link}/x, '{link}/y'") == "file://~/x, '~/y'"
    assert Redactor(homes=["/", ""], users=[]).text("/usr/lib") == "/usr/lib"  # HOME=/ redacts nothing


def test_secret_values_go_in_text_and_documents():
    r = Redactor(homes=[], users=[])
    assert r.text("env: HF_TOKEN=hf_abc TF_CPP_MIN_LOG_LEVEL=3 --password=x") == \
        "env: HF_TOKEN=<redacted> TF_CPP_MIN_LOG_LEVEL=3 --password=<redacted>"
    # quoted values, a dict's repr and a JSON object in a child's log
    assert r.text('export GITHUB_TOKEN="ghp abc" DB_PASS=\'x y\' KERAS_BACKEND="jax"') == \
        "export GITHUB_TOKEN=<redacted> DB_PASS=<redacted> KERAS_BACKEND=\"jax\""
    log = "environ({'HOME': '/h', 'TF_TOKEN_app_terraform_io': 'atlas.s3cr3t', \"AWS_SECRET_ACCESS_KEY\": \"xyz\"})"
    out = r.text(log)
    assert "s3cr3t" not in out and "xyz" not in out and "'HOME': '/h'" in out
    assert "'TF_TOKEN_app_terraform_io': '<redacted>'" in out
    doc = {"environ": {"TF_VAR_db_password": "hunter2", "KERAS_BACKEND": "jax", "API_KEYS": ["a", "b"]},
           "n": 1, "ok": True, "none": None}
    assert r.doc(doc) == {"environ": {"TF_VAR_db_password": "<redacted>", "KERAS_BACKEND": "jax",
                                      "API_KEYS": "<redacted>"}, "n": 1, "ok": True, "none": None}


def test_dict_keys_are_redacted():
    r = Redactor(homes=["/home/ann"], users=["ann"])
    doc = {"/home/ann/venv/bin/python|jax": 1.5, "GPU-8f3a": {"/scratch/ann": ["GPU-8f3a1c0e"]}}
    assert r.doc(doc) == {"~/venv/bin/python|jax": 1.5, "<uuid>": {"/scratch/<user>": ["<uuid>"]}}


# ---------------------------------------------------------------------- end to end


USER = "zelda9"


@pytest.fixture
def private_machine(tmp_path, monkeypatch, isolated_home, fake_smi):
    """A machine whose home, user, GPUs and secrets are all over the environment."""
    monkeypatch.setenv("PATH", f"{fake_smi}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("HOME", str(isolated_home) + "/")  # a trailing slash
    monkeypatch.setenv("USER", USER)
    monkeypatch.setenv("LOGNAME", USER)
    scratch = tmp_path / "scratch" / USER / "keras-home"
    scratch.mkdir(parents=True)
    (scratch / "keras.json").write_text('{"backend": "jax", "floatx": "float16"}')
    monkeypatch.setenv("KERAS_HOME", str(scratch))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-00010203,MIG-10111213-1415")
    monkeypatch.setenv("LD_LIBRARY_PATH", f"{isolated_home}/cuda/lib64:/home/other-mount/{USER}/lib")
    monkeypatch.setenv("XLA_FLAGS", f"--xla_dump_to={isolated_home}/dumps")
    for k, v in {**TERRAFORM, **TENSORFLOW, "HF_TOKEN": "hf_s3cr3t", "AWS_SECRET_ACCESS_KEY": "aws_s3cr3t"}.items():
        monkeypatch.setenv(k, v)
    return isolated_home


SECRETS = ("s3cr3t", "hunter2", "terraformrc", "eu-west-1", "TF_TOKEN", "TF_VAR", "TF_CLI_CONFIG_FILE")


def _assert_private(text: str, home):
    assert str(home) not in text and USER not in text
    for frag in ("00010203", "10111213", "0a0b0c0d0e0f", "1a1b1c1d1e1f"):
        assert frag not in text, frag
    for s in SECRETS:
        assert s not in text, s


def test_report_json_redacts_the_whole_document(run_cli, private_machine):
    _, out, _ = run_cli("doctor", "--report", "--json", *NO_PROBE)
    doc = json.loads(out)
    _assert_private(out, private_machine)
    facts = doc["facts"]
    assert facts["environ"]["CUDA_VISIBLE_DEVICES"] == "<uuid>,<uuid>"
    assert facts["environ"]["TF_CPP_MIN_LOG_LEVEL"] == "3"  # what TensorFlow reads stays
    assert facts["environ"]["XLA_FLAGS"] == "--xla_dump_to=~/dumps"
    assert facts["environ"]["LD_LIBRARY_PATH"] == "~/cuda/lib64:/home/other-mount/<user>/lib"
    assert "/scratch/<user>/keras-home/keras.json" in facts["config"]["config_path"]
    assert [g["uuid"] for g in facts["gpu"]["gpus"]] == ["<uuid>", "<uuid>"]
    assert [g["name"] for g in facts["gpu"]["gpus"]] == ["NVIDIA A100-SXM4-40GB"] * 2
    assert doc["report"].startswith("<details>")
    _assert_private(doc["report"], private_machine)


def test_report_text_is_redacted_too(run_cli, private_machine):
    _, out, _ = run_cli("doctor", "--report", *NO_PROBE)
    _assert_private(out, private_machine)
    assert "TF_CPP_MIN_LOG_LEVEL=3" in out and "CUDA_VISIBLE_DEVICES=<uuid>,<uuid>" in out
    assert "/scratch/<user>/keras-home/keras.json" in out


def test_json_without_report_keeps_the_facts_but_not_terraforms(run_cli, private_machine):
    _, out, _ = run_cli("doctor", "--json", *NO_PROBE)
    doc = json.loads(out)
    assert doc["facts"]["environ"]["CUDA_VISIBLE_DEVICES"] == "GPU-00010203,MIG-10111213-1415"  # not a report
    for s in ("TF_TOKEN", "TF_VAR", "TF_CLI_CONFIG_FILE", "HF_TOKEN", "AWS_SECRET"):
        assert s not in out


@pytest.mark.parametrize("text, secret, kept", [
    ("LD_LIBRARY_PATH=/opt/x?token=SECRETAAA8:/usr/lib", "SECRETAAA8", ["LD_LIBRARY_PATH=/opt/x?token=", ":/usr/lib"]),
    ("XLA_FLAGS=--xla_dump_to=/tmp/d --auth_token=SECRET7", "SECRET7", ["--xla_dump_to=/tmp/d"]),
    ("PIP_INDEX_URL=https://h/simple?user=a&password=hunter2&n=1", "hunter2", ["user=a", "&n=1"]),
    ("HTTPS_PROXY=http://u:pw@proxy:3128", ":pw@", ["HTTPS_PROXY=http://", "@proxy:3128"]),
    ("no credentials: http://proxy:3128/x", None, ["http://proxy:3128/x"]),
])
def test_a_secret_assigned_inside_another_variables_value_goes(text, secret, kept):
    r = Redactor(homes=["/nonexistent-home"], users=[])
    out = r.text(text)
    if secret:
        assert secret not in out, out
    for k in kept:
        assert k in out, out
