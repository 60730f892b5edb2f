"""The gruverify command line: exit status 0 / 1 / 2, one-line errors, the JSON report."""

from __future__ import annotations

import json
import pathlib
import shlex
import subprocess
import sys

import pytest
import torch
from cli_support import TREE, child_env, run_main


def gruverify(*args: str, cwd: pathlib.Path = TREE) -> subprocess.CompletedProcess[str]:
    """``python -m gruverify ARGS`` in a child running the tree under test (``child_env``; with
    ``-m`` the working directory comes first on the path, so it is the tree by default)."""
    env = child_env()
    return subprocess.run(
        [sys.executable, "-m", "gruverify", *args], capture_output=True, text=True, cwd=cwd,
        env=env, timeout=300,
    )  # fmt: skip


@pytest.mark.parametrize("where", ["tree", "elsewhere"])
def test_a_child_process_runs_the_tree_under_test(where: str, tmp_path: pathlib.Path) -> None:
    """The child imports the gruverify this process tests (not an installed copy), from the
    tree's directory and from any other, and finds the test targets."""
    import gruverify as here

    cwd = TREE if where == "tree" else tmp_path
    code = "import gruverify, test_checker_planted; print(gruverify.__file__)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd,
                       env=child_env(), timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert pathlib.Path(r.stdout.strip()).resolve() == pathlib.Path(here.__file__).resolve()


def test_default_check_passes_torch_gru_and_writes_the_json_report(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "report.json"
    r = gruverify("check", "--device", "cpu", "--json", str(path))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "PASS" in r.stdout and "torch-gru" in r.stdout
    data = json.loads(path.read_text())
    assert data["target"] == "torch-gru" and data["verdict"] == "pass"
    assert data["device"] == "cpu" and data["dtype"] == "float32"
    assert "u = " in data["arithmetic"]
    names = [c["name"] for c in data["checks"]]
    assert len(names) == len(set(names)) >= 20
    assert all(c["status"] in ("passed", "skipped") for c in data["checks"])


def test_a_buggy_module_attr_target_fails_with_exit_1_and_an_explanation(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "r.json"
    r = gruverify("check", "test_checker_planted:DropsBhn", "--check", "forward[basic]",
                  "--check", "carry-over", "--json", str(path))  # fmt: skip
    assert r.returncode == 1, r.stdout + r.stderr
    assert "FAIL" in r.stdout and "First failure: forward[basic]" in r.stdout
    assert "minimal configuration:" in r.stdout
    assert "reproduce: gruverify check test_checker_planted:DropsBhn" in r.stdout
    assert "--seed 0" in r.stdout and "Traceback" not in r.stdout + r.stderr
    data = json.loads(path.read_text())
    assert data["verdict"] == "fail"
    failed = [c for c in data["checks"] if c["status"] == "failed"]
    assert failed and failed[0]["counterexample"]["numbers"]["error"] > 0


def test_the_reproduce_command_reproduces(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "check", "test_checker_planted:IgnoresHx", "--profile", "quick",
                            "--seed", "7", "--check", "forward[basic]")  # fmt: skip
    assert code == 1
    line = next(ln for ln in out.splitlines() if ln.startswith("reproduce: "))
    assert "--seed 7" in line and "--profile quick" in line
    code2, again, _ = run_main(capsys, *shlex.split(line.removeprefix("reproduce: gruverify ")))
    assert code2 == 1
    first = next(ln for ln in out.splitlines() if ln.startswith("minimal configuration"))
    assert first in again


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["check", "no-such-target"], "unknown target 'no-such-target'"),
        (["check", "no_such_module_xyz:GRU"], "cannot import module 'no_such_module_xyz'"),
        (["check", "test_checker_planted:Missing"], "has no attribute 'Missing'"),
        (["check", "torch.nn:Linear"], "does not behave like torch.nn.GRU"),
        (["check", "--dtype", "float8"], "invalid choice: 'float8'"),
        (["check", "--profile", "nope"], "invalid choice: 'nope'"),
        (["check", "--seed", "x"], "argument --seed: not a whole number: 'x'"),
        (["check", "--check", "no such check"], "invalid choice"),
        (["check", "numpy-reference", "--dtype", "float32"], "float64 on the cpu only"),
        (["bogus"], "invalid choice: 'bogus'"),
    ],
)
def test_usage_errors_exit_2_with_one_line_and_no_traceback(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, out, err = run_main(capsys, *args)
    assert code == 2, out + err
    err = err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err, err


def test_a_missing_module_exits_2_from_the_real_entry_point() -> None:
    r = gruverify("check", "no_such_module_xyz:GRU")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [
        "gruverify: error: cannot import module 'no_such_module_xyz': ModuleNotFoundError: "
        "No module named 'no_such_module_xyz'"
    ]


def test_cuda_without_cuda_is_a_usage_error() -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    r = gruverify("check", "--device", "cuda")
    assert r.returncode == 2 and r.stderr.strip() == (
        "gruverify: error: --device cuda: CUDA is not available on this machine"
    )


def test_targets_lists_the_built_ins_name_first(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "targets")
    assert code == 0
    names = [ln.split()[0] for ln in out.splitlines()]
    assert {"torch-gru", "torch-grucell", "numpy-reference", "torch-reference"} <= set(names)


def test_cell_targets_run_over_time(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "check", "torch.nn:GRUCell", "--cell", "--check",
                              "forward[basic]", "--check", "forward[bidirectional]")  # fmt: skip
    assert code == 0, out + err
    assert "SKIP" in out and "a GRU cell runs one direction" in out
