"""One backend-name parser and one multi-value convention, for every command (issue 11, item 21).

- a typo, another case or a known alias gets the closest name and a corrected
  command line, whichever command it was given to;
- every multi-valued option takes repeated flags and comma lists alike;
- `--op`, `--category` and `--check` complete (bash, really run; fish's split),
  without importing the suite (numpy) or Keras.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kbackend.child import cases
from kbackend.cli import catalog
from tests.faults.gpu_fakes import fake_python, site

REPO = Path(__file__).resolve().parents[2]

TYPOS = [
    # (argv, exit code, the name suggested, the fix)
    (("switch", "jaxx"), 1, "jax", "kbackend switch jax"),
    (("switch", "JAX"), 1, "jax", "kbackend switch jax"),
    (("switch", "pytorch"), 1, "torch", "kbackend switch torch"),
    (("switch", "tensorflw"), 1, "tensorflow", "kbackend switch tensorflow"),
    (("shell-env", "jaxx", "--shell", "bash"), 1, "jax", "kbackend shell-env jax"),
    (("shell-env", "Numpy", "--shell", "fish"), 1, "numpy", "kbackend shell-env numpy"),
    (("run", "--backend", "jaxx", "--", "true"), 1, "jax", "kbackend run --backend jax -- ..."),
    (("run", "--backend", "openvno", "--", "true"), 1, "openvino", "kbackend run --backend openvino -- ..."),
    (("verify", "--backend", "jaxx"), 2, "jax", "kbackend verify --backend jax"),
    (("verify", "--backend", "jax,Torch"), 2, "torch", "kbackend verify --backend jax,torch"),
    (("verify", "-b", "jax", "-b", "tourch"), 2, "torch", "kbackend verify --backend jax,torch"),
    (("bench", "--backend", "jaxx,torch"), 2, "jax", "kbackend bench --backend jax,torch"),
    (("bench", "--dtype", "flaot32"), 2, "float32", "kbackend bench --dtype float32"),
    (("bench", "--size", "larg"), 2, "large", "kbackend bench --size large"),
    (("verify", "--dtype", "float16,bfloat61"), 2, "bfloat16", "kbackend verify --dtype float16,bfloat16"),
    (("verify", "--data-format", "channels_lst"), 2, "channels_last", "kbackend verify --data-format channels_last"),
    (("doctor", "--check", "versoins"), 2, "versions", "kbackend doctor --check versions"),
    (("doctor", "--check", "python,gpu-drivr"), 2, "gpu-driver", "kbackend doctor --check python,gpu-driver"),
    (("verify", "--op", "matmull"), 2, "matmul", "kbackend verify --op matmul"),
    (("verify", "--category", "convv", "--list"), 2, "conv", "kbackend verify --category conv"),
]


@pytest.mark.parametrize("argv,code,name,fix", TYPOS, ids=[" ".join(t[0]) for t in TYPOS])
def test_every_command_suggests_the_name_meant(run_cli, argv, code, name, fix):
    got, out, err = run_cli(*argv)
    assert got == code, err
    assert f"Did you mean `{name}`?" in err and f"fix: {fix}" in err, err
    got, out, _ = run_cli(*argv[:1], "--json", *argv[1:])
    doc = json.loads(out)
    assert got == doc["exit_code"] == code
    assert f"Did you mean `{name}`?" in doc["error"]["message"] and doc["error"]["fix"] == fix


def test_a_name_nothing_resembles_gets_no_guess(run_cli):
    code, _, err = run_cli("switch", "qqqq")
    assert code == 1 and "Did you mean" not in err and "It accepts: tensorflow, jax, torch, numpy, openvino" in err
    code, _, err = run_cli("verify", "--backend", "qqqq")
    assert code == 2 and "Did you mean" not in err and "Received: backend=qqqq." in err


# --------------------------------------------------------------- one multi-value convention

#: (command, option, values): every multi-valued option of every command.
MULTI = [
    ("verify", "--backend", ["jax", "torch", "numpy"]),
    ("verify", "--op", ["add", "matmul", "conv2d"]),
    ("verify", "--category", ["conv", "pooling", "model"]),
    ("verify", "--dtype", ["float16", "bfloat16", "float64"]),
    ("verify", "--data-format", ["channels_first", "channels_last"]),
    ("bench", "--backend", ["numpy", "jax", "tensorflow"]),
    ("bench", "--op", ["add", "matmul"]),
    ("bench", "--category", ["elementwise", "conv"]),
    ("bench", "--size", ["small", "large"]),
    ("bench", "--dtype", ["float32", "float64"]),
    ("doctor", "--check", ["python", "keras", "versions"]),
]


def _params(command: str, args: list[str]) -> dict:
    """What click hands the command: the real parser, the command not run."""
    from kbackend.cli.main import cli

    cmd = cli.get_command(None, command)
    return cmd.make_context(command, list(args)).params


@pytest.mark.parametrize("command,option,values", MULTI, ids=[f"{c} {o}" for c, o, _ in MULTI])
def test_repeated_and_comma_lists_are_the_same(command, option, values):
    repeated = [a for v in values for a in (option, v)]
    comma = [option, ",".join(values)]
    mixed = [option, values[0], option, ",".join(values[1:]) + ","]
    dup = [option, ",".join(values), option, values[0]]
    forms = [_params(command, f) for f in (repeated, comma, mixed, dup)]
    key = next(k for k, v in forms[0].items() if isinstance(v, tuple) and v)
    assert all(f[key] == tuple(values) for f in forms), [f[key] for f in forms]


@pytest.fixture
def bare_target(tmp_path):
    """A stand-in interpreter with Keras 3 and no backend at all (nothing can start)."""
    sp = site(tmp_path / "site", {"keras": "3.15.1", "numpy": "2.1.0"})
    return fake_python(tmp_path, [str(sp)])


def test_verify_takes_the_comma_list_bench_takes(bare_target, run_cli):
    """`verify --backend jax,torch` was refused and its fix dropped torch."""
    code, out, _ = run_cli("--python", str(bare_target), "verify", "--backend", "jax,torch", "--dtype",
                           "float16,float64", "--json")
    doc = json.loads(out)
    assert code == 1
    assert [b["name"] for b in doc["backends"]] == ["jax", "torch"]
    assert all(b["status"] == "not_installed" for b in doc["backends"]) and doc["dtypes"] == ["float16", "float64"]


def test_comma_lists_reach_the_suite(run_cli):
    code, out, _ = run_cli("verify", "--list", "--json", "--op", "add,matmul", "--op", "conv2d")
    names = [c["name"] for c in json.loads(out)["cases"]]
    assert code == 0 and [n for n in names if "." not in n] == ["add", "matmul", "conv2d"]
    assert all(n.split(".")[0] in ("add", "matmul", "conv2d") for n in names)  # and their variants OP.CONDITION
    code, out, _ = run_cli("doctor", "--json", "--check", "keras,python")
    assert code in (0, 1) and [c["id"] for c in json.loads(out)["checks"]] == ["python", "keras"]


# --------------------------------------------------------------- completion


def test_the_static_lists_are_the_suites_and_doctors():
    """Completion reads kbackend.cli.catalog; regenerate it with `python -m kbackend.cli.catalog`."""
    src = Path(catalog.__file__).read_text()
    block = src.split("# --- generated: begin\n")[1].split("# --- generated: end")[0]
    assert block == catalog.render()


def _bash_complete(line: str) -> list[str]:
    """Complete `line` in a real bash with completions/kbackend.bash sourced."""
    script = REPO / "completions" / "kbackend.bash"
    prog = (f'source "{script}"; read -ra COMP_WORDS <<< "$LINE"; [[ "$LINE" == *" " ]] && COMP_WORDS+=("");'
            'COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); _kbackend_completion kbackend; printf "%s\\n" "${COMPREPLY[@]}"')
    env = {**os.environ, "LINE": line, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}
    p = subprocess.run(["bash", "--norc", "-c", prog], capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0, p.stderr
    return [x for x in p.stdout.splitlines() if x]


def test_bash_completes_ops_categories_and_checks():
    if not os.path.exists(os.path.join(os.path.dirname(sys.executable), "kbackend")):
        pytest.fail("the kbackend script is not installed beside this interpreter")
    # every case whose name starts so, condition variants ("matmul.1d_2d") included
    want = sorted(c.name for c in cases.CASES if c.name.startswith("matm"))
    assert {"matmul", "matmul_batched", "matmul_broadcast", "matmul.1d_2d"} <= set(want)
    assert sorted(_bash_complete("kbackend verify --op matm")) == want
    assert _bash_complete("kbackend bench --category conv") == ["conv"]
    assert _bash_complete("kbackend verify --category mo") == ["model"]
    assert _bash_complete("kbackend doctor --check gpu-dr") == ["gpu-driver", "gpu-driver-cuda"]
    # Each item of a comma list completes; the ones already given are not offered again.
    assert _bash_complete("kbackend verify --backend jax,t") == ["jax,tensorflow", "jax,torch"]
    assert "jax,jax" not in _bash_complete("kbackend verify --backend jax,")
    assert _bash_complete("kbackend bench --dtype float16,bf") == ["float16,bfloat16"]


def test_fish_keeps_a_comma_list_whole():
    src = (REPO / "completions" / "kbackend.fish").read_text()
    assert '(string split -m 1 "," $completion)' in src


def test_completion_imports_neither_the_suite_nor_keras():
    env = dict(os.environ, _KBACKEND_COMPLETE="bash_complete", COMP_WORDS="kbackend verify --op ma", COMP_CWORD="3")
    p = subprocess.run([sys.executable, "-X", "importtime", "-m", "kbackend"], env=env, capture_output=True,
                       text=True, timeout=60)
    imported = {line.split("|")[-1].strip() for line in p.stderr.splitlines() if "|" in line}
    assert not imported & {"numpy", "keras", "jax", "torch", "kbackend.child.cases", "kbackend.doctor.checks"}
    assert "plain,matmul" in p.stdout.splitlines()
