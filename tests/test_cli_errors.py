"""What a new user sees after a typo or a wrong target: exit 2, one line on stderr that says what
to do next, never a traceback."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest
import torch
from cli_support import child_env, run_main


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["check", "torch-gur"],
         "unknown target 'torch-gur': did you mean 'torch-gru'? run `gruverify targets`"),
        (["check", "flax-linnen"], "did you mean 'flax-linen'?"),
        (["check", "torch.nn.GRU"], "did you mean 'torch.nn:GRU'? a module attribute is named"),
        (["check", "mygru"], "not a built-in (run `gruverify targets` for the list) and not "
         "'package.module:attr'"),
        (["check", "torch.nn:GRUcell"], "module 'torch.nn' has no attribute 'GRUcell'; did you "
         "mean 'GRUCell'?"),
        (["check", "torch.nn:GRUCell"], "A GRUCell-shaped class? Add --cell."),
        (["check", "no_such_module_xyz:GRU"], "cannot import module 'no_such_module_xyz': "
         "ModuleNotFoundError"),
        (["check", "misbehaving_import:GRU"], "cannot import module 'misbehaving_import': "
         "SystemExit: misbehaving_import: this module exits when imported"),
        (["check", "misbehaving_targets:WrongSignature"], "does not behave like torch.nn.GRU"),
        (["check", "misbehaving_targets:RaisesInConstructor"], "this GRU needs a GPU"),
        (["check", "misbehaving_targets:NOT_CALLABLE"], "is a int, not a class or factory"),
        # a constructor that hangs is the target's failure (exit 1): tests/test_isolation_cli.py
        (["chek"], "invalid choice: 'chek'"),
        (["chek"], "did you mean 'check'?"),
        (["check", "--check", "forwrd"], "did you mean 'forward[basic]'?"),
        (["check", "--device", "cdua"], "did you mean 'cuda'?"),
        (["check", "--dtype", "float23"], "did you mean 'float32'?"),
        (["check", "--accumulator", "fp32"], "invalid choice: 'fp32' (choose from 'float64', "
         "'float32', 'float16', 'bfloat16'); did you mean 'float32'?"),
        (["check", "--profile", "thorugh"], "did you mean 'thorough'?"),
        (["check", "--timeout", "0"], "the timeout must be positive seconds, got '0'"),
        (["check", "--timeout", "-3"], "the timeout must be positive seconds"),
        (["check", "--timeout", "soon"], "not a number of seconds: 'soon'"),
        (["check", "numpy-reference", "--dtype", "float32"], "float64 on the cpu only"),
        (["check", "torch-gru", "--cell"], "--cell is for package.module:attr targets; "
         "torch-gru is a built-in target (for torch.nn.GRUCell use torch-grucell)"),
        (["check", "--json", "no/such/dir/r.json"], "directory 'no/such/dir' does not exist"),
        (["check", "--artifacts", "README.md"], "--artifacts README.md: exists and is not a "
         "directory"),
        (["reproduce", "no/such/file.json"], "cannot read no/such/file.json"),
        (["reproduce"], "the following arguments are required: FILE"),
    ],
)  # fmt: skip
def test_bad_input_exits_2_with_one_line_that_says_what_to_do(
    capsys: pytest.CaptureFixture[str], args: list[str], says: str
) -> None:
    code, out, err = run_main(capsys, *args)
    assert code == 2, out + err
    err = err.strip()
    assert says in err and len(err.splitlines()) == 1 and "Traceback" not in err, err


def test_cuda_without_cuda_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    code, _, err = run_main(capsys, "check", "--device", "cuda")
    assert code == 2 and err.strip() == (
        "gruverify: error: --device cuda: CUDA is not available on this machine"
    )


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("not json {", "is not JSON"),
        (json.dumps({"target": "torch-gru"}), "is not a gruverify counterexample file"),
        (
            json.dumps({"gruverify_counterexample": 1, "target": "torch-gru"}),
            "lacks device, dtype, check, problem",
        ),
        (
            json.dumps(
                {
                    "gruverify_counterexample": 1,
                    "target": "torch-gur",
                    "device": "cpu",
                    "dtype": "float32",
                    "check": "forward[basic]",
                    "problem": {"x": [[1.0]]},
                }
            ),
            "malformed problem",
        ),
    ],
)
def test_reproduce_rejects_a_bad_file_in_one_line(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], content: str, says: str
) -> None:
    path = tmp_path / "c.json"
    path.write_text(content)
    code, _, err = run_main(capsys, "reproduce", str(path))
    assert code == 2 and says in err and len(err.strip().splitlines()) == 1, err


def test_reproduce_names_an_unknown_target_like_check_does(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import numpy as np

    from gruverify.conformance.counterexample import problem_to_dict
    from gruverify.core.params import random_gru_params
    from gruverify.core.problem import Problem

    problem = Problem(random_gru_params(1, 1, rng=0), np.zeros((1, 1, 1)))
    data = {"gruverify_counterexample": 1, "target": "torch-gur", "device": "cpu",
            "dtype": "float32", "check": "forward[basic]", "problem": problem_to_dict(problem)}  # fmt: skip
    path = tmp_path / "c.json"
    path.write_text(json.dumps(data))
    code, _, err = run_main(capsys, "reproduce", str(path))
    assert code == 2 and "did you mean 'torch-gru'?" in err, err


def test_the_real_entry_point_prints_no_traceback_for_a_module_that_exits_on_import() -> None:
    env = child_env()
    r = subprocess.run(
        [sys.executable, "-m", "gruverify", "check", "misbehaving_import:GRU"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert r.returncode == 2 and r.stdout == "", r.stdout + r.stderr
    assert r.stderr.strip().splitlines() == [
        "gruverify: error: cannot import module 'misbehaving_import': SystemExit: "
        "misbehaving_import: this module exits when imported"
    ]


def test_an_unwritable_artifacts_directory_does_not_change_the_verdict(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, out, err = run_main(capsys, "check", "misbehaving_targets:WrongDtype", "--check",
                              "forward[basic]", "--artifacts", str(blocker / "sub"))  # fmt: skip
    assert code == 1 and "cannot save the counterexample under" in out, out + err
    assert "Traceback" not in out + err
