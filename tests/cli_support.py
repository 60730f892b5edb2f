"""Running the CLI in the test process, shared by the CLI tests."""

from __future__ import annotations

import pytest


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``gruverify ARGS`` in this process (fast); returns (status, stdout, stderr)."""
    from gruverify.cli import main

    try:
        code = main(list(args))
    except SystemExit as e:  # argparse usage errors
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err
