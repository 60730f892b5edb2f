"""Running the CLI in the test process, shared by the CLI tests, and the environment for running
it in a child process."""

from __future__ import annotations

import os
import pathlib

import pytest

import gruverify

TESTS = pathlib.Path(__file__).resolve().parent
TREE = pathlib.Path(gruverify.__file__).resolve().parents[1]
"""The directory holding the ``gruverify`` this test process imported: the tree under test."""


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``gruverify ARGS`` in this process (fast); returns (status, stdout, stderr)."""
    from gruverify.cli import main

    try:
        code = main(list(args))
    except SystemExit as e:  # argparse usage errors
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def child_env() -> dict[str, str]:
    """The environment for a ``python -m gruverify`` child: the tree under test first on
    ``PYTHONPATH`` (so the child runs the code this process tests, not an installed copy), then
    ``tests/`` (the test targets), then what was there."""
    rest = os.environ.get("PYTHONPATH", "")
    path = os.pathsep.join([str(TREE), str(TESTS), *([rest] if rest else [])])
    return {**os.environ, "PYTHONPATH": path}
