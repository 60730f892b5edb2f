"""The README's terminal examples are what the checker prints (issue 20: the failure example
had gone stale). Each ``$ gruverify ...`` line of the worked example and of the usage-error
example is run, in this process, and every line the README shows under it must be in the real
output: literally, or up to an elision (a line ending in ``...`` or ``(...)`` is a prefix; a
lone ``...`` stands for lines left out), the run's seconds excepted."""

from __future__ import annotations

import pathlib
import re
import shlex

import pytest
from cli_support import run_main

from gruverify.core.devices import available_devices

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
_SECONDS = re.compile(r"\d+(\.\d+)? s$")


def _examples() -> list[tuple[list[str], list[str]]]:
    """``(argv, lines shown)`` for each ``$ gruverify`` command in the README's plain code
    blocks that show output (``$ echo $?`` lines give the exit status as ``exit N``)."""
    blocks = re.findall(r"```\n(\$ gruverify .*?)```", README.read_text(), re.S)
    found: list[tuple[list[str], list[str]]] = []
    for block in blocks:
        for line in block.splitlines():
            if line.startswith("$ gruverify "):
                found.append((shlex.split(line[2:])[1:], []))
            elif line == "$ echo $?":
                found[-1][1].append("exit")
            elif found[-1][1][-1:] == ["exit"]:
                found[-1][1][-1] = f"exit {line}"
            else:
                found[-1][1].append(line)
    return found


def _shown_in(line: str, real: list[str]) -> bool:
    line = _SECONDS.sub("N s", line)
    real = [_SECONDS.sub("N s", r) for r in real]
    for elided in ("(...)", "..."):
        if line.endswith(elided) and line != "...":
            return any(r.startswith(line[: -len(elided)]) for r in real)
    return line in real


def test_the_readme_has_the_examples() -> None:
    commands = [argv[:2] for argv, _ in _examples()]
    assert ["check", "gruverify.zoo.mutants:NoResetBias"] in commands
    assert ["check", "torch-gur"] in commands and len(commands) >= 4


@pytest.mark.parametrize(
    ("argv", "shown"), _examples(), ids=[" ".join(argv) for argv, _ in _examples()]
)
def test_a_readme_example_is_what_the_checker_prints(
    argv: list[str], shown: list[str], capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path,
) -> None:  # fmt: skip
    if "cuda" in available_devices():
        pytest.skip("the README shows a machine without CUDA")
    monkeypatch.chdir(tmp_path)  # counterexamples under ./.gruverify, as shown
    code, out, err = run_main(capsys, *argv)
    real = (out + err).splitlines()
    missing = [line for line in shown if line != "..." and not line.startswith("exit ")]
    missing = [line for line in missing if not _shown_in(line, real)]
    assert not missing, (
        "README lines not in the real output:\n"
        + "\n".join(missing)
        + ("\n--- real output:\n" + out + err)
    )
    for line in shown:
        if line.startswith("exit "):
            assert code == int(line.split()[1]), (code, out, err)
