"""The rough edges a new user hits first (issue 20): ``--version``, file paths as targets, install
hints for a missing framework, ``gruverify targets`` saying what cannot run here, the matrix
saying when it cannot draw its picture, and option names in option errors."""

from __future__ import annotations

import pathlib
import sys

import pytest
import tomllib
from cli_support import run_main

from gruverify.targets import TARGETS, TargetError, requirements, resolve_target

REPO = pathlib.Path(__file__).resolve().parents[1]
MY_GRU = "import torch\n\n\nclass _Helper:\n    pass\n\n\nclass MyGRU(torch.nn.GRU):\n    pass\n"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "--version")
    assert code == 0 and out.startswith("gruverify ") and "(Python 3." in out, out


@pytest.mark.parametrize("spec", ["my_gru.py:MyGRU", "./pkg/my_gru.py:MyGRU"])
def test_a_file_path_is_a_target(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, spec: str
) -> None:
    (tmp_path / "pkg").mkdir()
    for path in ("my_gru.py", "pkg/my_gru.py"):
        (tmp_path / path).write_text(MY_GRU)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "my_gru", raising=False)
    impl = resolve_target(spec)
    assert impl.name == spec and type(impl).__name__ == "TorchModuleTarget"
    with pytest.raises(TargetError, match="no such file"):
        resolve_target("./nothere.py:MyGRU")


def test_a_file_without_its_class_suggests_the_class_not_a_module(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "my_gru.py").write_text(MY_GRU)
    monkeypatch.chdir(tmp_path)
    code, _, err = run_main(capsys, "check", "./my_gru.py")
    assert code == 2 and "did you mean './my_gru.py:MyGRU'?" in err, err
    assert "./my_gru:py" not in err and "_Helper" not in err, err


def test_every_built_in_target_names_what_it_needs_and_a_real_extra() -> None:
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert set(requirements.NEEDS) == set(TARGETS), set(TARGETS) ^ set(requirements.NEEDS)
    for name, (modules, extra) in requirements.NEEDS.items():
        assert modules, name
        assert extra is None or extra in extras, (name, extra)


def test_a_missing_framework_names_the_pip_install(monkeypatch: pytest.MonkeyPatch) -> None:
    def factory(device: str, dtype: str | None) -> object:
        import no_such_framework_xyz  # noqa: F401

        raise AssertionError("unreachable")

    monkeypatch.setitem(TARGETS, "fake-onnx", (factory, "a fake target"))
    monkeypatch.setitem(requirements.NEEDS, "fake-onnx", (("no_such_framework_xyz",), "onnx"))
    assert requirements.unavailable("torch-gru") is None
    with pytest.raises(TargetError) as info:
        resolve_target("fake-onnx")
    message = str(info.value)
    assert "needs no_such_framework_xyz: pip install 'gruverify[onnx]'" in message, message


def test_targets_marks_what_cannot_run_here(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(TARGETS, "fake-flax", (lambda d, t: None, "a fake target"))
    monkeypatch.setitem(requirements.NEEDS, "fake-flax", (("no_such_framework_xyz",), "flax"))
    code, out, err = run_main(capsys, "targets")
    (line,) = [line for line in out.splitlines() if line.startswith("fake-flax ")]
    assert line.endswith(
        "a fake target  [unavailable here: needs no_such_framework_xyz: pip install "
        "'gruverify[flax]']"
    ), line
    assert "unavailable" not in out.splitlines()[0], out  # torch-gru runs here
    assert code == 0 and "targets cannot run in this environment" in err, err


def test_fail_on_regression_names_the_option(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_main(capsys, "matrix", "--fail-on-regression", str(tmp_path / "no.json"))
    assert code == 2 and "--fail-on-regression" in err and "No such file" in err, err
    (tmp_path / "bad.json").write_text("{")
    code, _, err = run_main(capsys, "matrix", "--fail-on-regression", str(tmp_path / "bad.json"))
    assert code == 2 and "--fail-on-regression" in err and "not a matrix.json" in err, err


def test_the_matrix_says_when_it_cannot_draw_its_picture(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib: ImportError
    monkeypatch.setitem(sys.modules, "gruverify.conformance.matrix_plot", None)
    code, out, _ = run_main(
        capsys, "matrix", "--targets", "numpy-reference", "--check", "determinism",
        "--out", str(tmp_path),
    )  # fmt: skip
    assert code == 0, out
    assert "no picture (matrix.png): matplotlib is not installed" in out, out
    assert "pip install 'gruverify[plot]'" in out and not (tmp_path / "matrix.png").exists()
