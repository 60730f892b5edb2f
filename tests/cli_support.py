"""Running the CLI in the test process, shared by the CLI tests, the environment for running it in
a child process, pytest in a child process (the plugin's tests), and the check that no child
process outlives a test."""

from __future__ import annotations

import contextlib
import os
import pathlib
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

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


def run_pytest(project: pathlib.Path, *args: str) -> tuple[int, str, dict[str, int]]:
    """pytest in a child process in ``project`` (the tree under test first on its path, as
    ``child_env``): its exit status, its output, and the summary line's counts
    (``{"passed": 1, "failed": 2, ...}``)."""
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
         "-rA", *args],
        cwd=project, env=child_env(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    last = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
    counts = {k: int(n) for n, k in re.findall(r"(\d+) (\w+)", last)}
    return r.returncode, r.stdout + r.stderr, counts


def processes_with(marker: str) -> list[int]:
    """Processes (other than this one) whose environment holds ``marker``."""
    found = []
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@contextlib.contextmanager
def no_process_left(message: str) -> Iterator[tuple[str, str]]:
    """A fresh marker ``(name, value)`` for the environment of the processes the block starts
    (children inherit it); on leaving the block, waits up to 5 s for every process holding it to
    end, then fails with ``message`` if one is left."""
    marker = f"GRUVERIFY_TEST_MARK={uuid.uuid4().hex}"
    key, value = marker.split("=")
    yield key, value
    deadline = time.monotonic() + 5
    while processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not processes_with(marker), message
