"""The pytest plugin's selection and session edges (issue 20): ``--gru-target`` imports from the
working directory, test ids that ``-k`` can select and counts that add up, ``--gru-check``, and a
session of checks stopped by Ctrl-C or SIGTERM exits 130 / 143. Run as a user's project would
be, pytest in a child process."""

from __future__ import annotations

import pathlib
import re
import signal
import subprocess
import sys
import time

import pytest
from cli_support import child_env, run_pytest

from gruverify.conformance.checks import CHECKS
from gruverify.pytest_plugin import check_id

MY_GRU = "import torch\n\n\nclass MyGRU(torch.nn.GRU):\n    pass\n"


def test_check_ids_have_no_space_equals_or_plus_and_stay_distinct() -> None:
    ids = [check_id(c.name) for c in CHECKS]
    assert len(set(ids)) == len(ids)
    assert not [i for i in ids if re.search(r"[ =+]", i)], ids
    assert check_id("h0=None equals zeros") == "h0_None_equals_zeros"
    assert check_id("gradient[output+h_n]") == "gradient[output_and_h_n]"


def test_gru_target_imports_from_the_working_directory_without_a_test_file(
    tmp_path: pathlib.Path,
) -> None:
    (tmp_path / "my_gru.py").write_text(MY_GRU)
    code, out, counts = run_pytest(
        tmp_path, "--gru-target", "my_gru:MyGRU", "--gru-device", "cpu",
        "--gru-check", "forward[basic]", "--gru-check", "determinism",
    )  # fmt: skip
    assert code == 0 and counts.get("passed") == 2, out[-3000:]
    assert "gruverify[my_gru:MyGRU][cpu]::forward[basic]" in out, out[-3000:]


def test_k_selects_by_id_and_the_counts_add_up(tmp_path: pathlib.Path) -> None:
    total = len(CHECKS)
    wanted = "h0_None_equals_zeros or output_and_h_n or bias_False"
    code, out, _ = run_pytest(
        tmp_path, "--gru-target", "torch-gru", "--gru-device", "cpu", "-k", wanted, "--co"
    )
    assert code == 0, out[-3000:]
    assert f"3/{total} tests collected ({total - 3} deselected)" in out, out[-3000:]
    for name in ("h0_None_equals_zeros", "gradient[output_and_h_n]", "forward[bias_False]"):
        assert f"gruverify[torch-gru][cpu]::{name}" in out, out[-3000:]
    code, out, _ = run_pytest(
        tmp_path, "--gru-target", "torch-gru", "--gru-device", "cpu", "-k", "long", "--co"
    )
    longs = sum("long" in c.name for c in CHECKS)  # forward[long], gradient[long]
    assert code == 0 and f"{longs}/{total} tests collected ({total - longs} deselected)" in out, out


def test_gru_check_selects_test_file_checks_too_and_names_a_typo(tmp_path: pathlib.Path) -> None:
    (tmp_path / "test_gru.py").write_text(
        "from gruverify.pytest_plugin import conformance_tests\n"
        "test_gru = conformance_tests('torch-gru')\n"
    )
    code, out, _ = run_pytest(tmp_path, "--gru-check", "determinism", "--co")
    assert code == 0 and "test_gru[cpu-determinism]" in out, out[-3000:]
    assert f"1/{len(CHECKS)} tests collected" in out, out[-3000:]
    code, out, _ = run_pytest(tmp_path, "--gru-check", "determinsm", "--co")
    assert code == 4 and "did you mean 'determinism'" in out, out[-3000:]


def _interrupted_session(
    tmp_path: pathlib.Path, sig: signal.Signals, delay: float
) -> tuple[int, str]:
    """pytest checking torch.nn.GRU in its own process, sent ``sig`` ``delay`` seconds after
    the first check passed (its output unbuffered, so that line is seen when it is written; the
    thorough profile, so the session is still running then); its exit status and output."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-v", "-p", "no:randomly", "-p", "no:cacheprovider",
         "--gru-target", "torch-gru", "--gru-device", "cpu", "--gru-profile", "thorough"],
        cwd=tmp_path, env={**child_env(), "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    seen = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            if "PASSED" in line:
                break
        time.sleep(delay)
        proc.send_signal(sig)
        rest, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, "".join(seen) + (rest or "")


@pytest.mark.parametrize(("sig", "delay"), [(signal.SIGINT, 0.0), (signal.SIGINT, 0.4),
                                            (signal.SIGINT, 0.9), (signal.SIGTERM, 0.4)])  # fmt: skip
def test_an_interrupted_session_exits_128_plus_the_signal(
    tmp_path: pathlib.Path, sig: signal.Signals, delay: float
) -> None:
    code, out = _interrupted_session(tmp_path, sig, delay)
    assert code == 128 + sig and "terminate called" not in out, (code, out[-3000:])
