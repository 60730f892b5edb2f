"""What the standalone-reproduction tests share (issue 23): running a script where gruverify cannot
be imported, writing a script from a counterexample's entries, reading docs/repros/.

``run_without_gruverify(script, path="", prelude="")`` runs ``python -I`` with
``sys.modules["gruverify"] = None``; ``prelude`` is code run before the script in the same process
(the tests patch a library's call there to show a script passes once the bug is gone).
"""

from __future__ import annotations

import copy
import json
import pathlib
import subprocess
import sys
from typing import Any

from gruverify.conformance.counterexample import problem_to_dict
from gruverify.conformance.standalone import standalone_script
from gruverify.core.problem import Problem

REPO = pathlib.Path(__file__).resolve().parents[1]
REPROS = REPO / "docs" / "repros"
MAX_LINES = 120
"""Forward findings' scripts must stay under it (issue 23); the others do too."""


def run_without_gruverify(
    script: pathlib.Path, path: str = "", prelude: str = ""
) -> subprocess.CompletedProcess[str]:
    """``python -I script`` with gruverify made unimportable (and ``path`` on sys.path)."""
    code = (
        "import runpy, sys; sys.modules['gruverify'] = None; "
        f"sys.path.insert(0, {path!r}) if {path!r} else None; sys.argv = [{str(script)!r}]\n"
        f"{prelude}\n"
        f"runpy.run_path({str(script)!r}, run_name='__main__')"
    )
    return subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=600,
        cwd=script.parent,
    )  # fmt: skip


def script_from(data: dict[str, Any], tmp_path: pathlib.Path, name: str) -> pathlib.Path:
    path = tmp_path / f"{name}.py"
    path.write_text(standalone_script(data).script, encoding="utf-8")
    return path


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((REPROS / f"{name}.json").read_text(encoding="utf-8"))
    return data


def with_problem(data: dict[str, Any], problem: Problem) -> dict[str, Any]:
    changed = copy.deepcopy(data)
    changed["problem"] = problem_to_dict(problem)
    return changed


def report(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr[-3000:]}"


def regenerate_command(name: str) -> str:
    return (
        f"python -m gruverify reproduce docs/repros/{name}.json --standalone -o "
        f"docs/repros/{name}.py --issue docs/repros/{name}.md"
    )
