"""The worked examples of docs/adapters.md ("Bring your own GRU") run as documented.

Each file of examples/own-gru/ is a hand-written GRU a user can copy; examples/own-gru/gruverify.toml
declares each. ``gruverify check MODULE:ATTR --config gruverify.toml`` from that folder passes the
forward and gradient checks, so the docs cannot rot: a changed declaration name, a broken
example or a conversion that stops being exact fails here.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

REPO = pathlib.Path(__file__).resolve().parents[1]
FOLDER = REPO / "examples" / "own-gru"
TABLES = tomllib.loads((FOLDER / "gruverify.toml").read_text())["tool"]["gruverify"]["target"]


def test_every_example_file_is_declared_and_documented() -> None:
    files = {p.stem for p in FOLDER.glob("*.py")}
    assert files == {name.split(":")[0] for name in TABLES}, (files, list(TABLES))
    docs = (REPO / "docs" / "adapters.md").read_text(encoding="utf-8")
    missing = [f for f in sorted(files) if f"examples/own-gru/{f}.py" not in docs]
    assert not missing, f"docs/adapters.md does not show {missing}"


@pytest.mark.parametrize("target", list(TABLES))
def test_the_example_passes_with_its_declaration(target: str) -> None:
    if target.startswith("jax_gru:"):
        pytest.importorskip("jax")
    result = subprocess.run(
        [sys.executable, "-m", "gruverify", "check", target, "--config", "gruverify.toml",
         "--check", "forward[basic]", "--check", "gradient[output]", "--profile", "quick",
         "--seed", "1"],
        cwd=FOLDER, capture_output=True, text=True, timeout=300,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{target}: PASS" in result.stdout, result.stdout


PLUGIN_TESTS = """
from gruverify.pytest_plugin import conformance_tests

CHECKS = ["forward[basic]", "gradient[output]"]
test_from_settings = conformance_tests("course_cell:CourseCell", checks=CHECKS, profile="quick")
test_from_keywords = conformance_tests(
    "concat_gru:ConcatGRU", checks=CHECKS, profile="quick",
    variant="reset_before", layout="concat", returns="list",
)
test_undeclared = conformance_tests("no_bhn_gru:NoBhnGRU", checks=["forward[basic]"],
                                    profile="quick", returns="outputs")
"""


def test_the_pytest_plugin_takes_declarations_from_settings_and_keywords(
    tmp_path: pathlib.Path,
) -> None:
    """In a user's project: the course's cell declared in pyproject.toml, the concat layer by
    conformance_tests keywords, both pass; the no-b_hn layer declared without its variant
    fails."""
    from cli_support import run_pytest

    for name in ("course_cell", "concat_gru", "no_bhn_gru"):
        (tmp_path / f"{name}.py").write_text((FOLDER / f"{name}.py").read_text())
    table = (FOLDER / "gruverify.toml").read_text().split("[tool.gruverify.target.")
    course = next(t for t in table if t.startswith('"course_cell:CourseCell"'))
    (tmp_path / "pyproject.toml").write_text("[tool.gruverify.target." + course)
    (tmp_path / "test_own.py").write_text(PLUGIN_TESTS)
    code, out, counts = run_pytest(tmp_path)
    assert code == 1 and counts == {"passed": 4, "failed": 1}, out
    assert "test_undeclared" in out.split("short test summary info")[-1], out
