"""``gruverify matrix``: every target in a process of its own, the JSON document, the table, the
picture, unavailable targets, regressions and parallel jobs (gruverify.conformance.matrix)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from cli_support import child_env, run_main

from gruverify.conformance import matrix
from gruverify.conformance.matrix import (
    MatrixError,
    MatrixPlan,
    load_matrix_table,
    regressions,
    render_markdown,
    row_from_report,
    run_matrix,
)

LIGHT = ("numpy-reference", "torch-reference")
FAST_CHECKS = ("forward[basic]", "determinism")


@pytest.fixture(autouse=True)
def _children_run_the_tree_under_test(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", child_env()["PYTHONPATH"])


@pytest.fixture(scope="module")
def light_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, Path]:
    """``gruverify matrix`` on two light targets, two checks each, two jobs (one run, shared)."""
    out = tmp_path_factory.mktemp("matrix")
    from gruverify.cli import main

    args = ["matrix", "--targets", ",".join(LIGHT), "--profile", "quick", "--out", str(out)]
    args += ["--jobs", "2"] + [a for c in FAST_CHECKS for a in ("--check", c)]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTHONPATH", child_env()["PYTHONPATH"])
        code = main(args)
    return code, out


def test_the_matrix_runs_two_light_targets_and_writes_json_md_png(
    light_run: tuple[int, Path],
) -> None:
    code, out = light_run
    assert code == 0
    doc = json.loads((out / "matrix.json").read_text())
    assert [r["target"] for r in doc["targets"]] == list(LIGHT)
    for row in doc["targets"]:
        assert row["verdict"] == "pass", row
        assert set(row["checks"]) == set(FAST_CHECKS)
        assert set(row["checks"].values()) == {"passed"}
        assert row["version"], row  # numpy's / torch's version as installed
    assert (out / "matrix.md").read_text().startswith("# GRU conformance matrix")
    if (out / "matrix.png").exists():
        assert (out / "matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "reports" / "numpy-reference.json").exists()


def test_the_json_document_has_the_documented_schema(light_run: tuple[int, Path]) -> None:
    doc = json.loads((light_run[1] / "matrix.json").read_text())
    assert {"date", "machine", "gruverify_version", "profile", "seed", "jobs", "seconds"} <= set(
        doc
    )
    assert doc["profile"] == "quick" and doc["jobs"] == 2 and doc["seed"] == 0
    assert {"platform", "python", "cpus", "processor"} <= set(doc["machine"])
    assert doc["checks"] == list(FAST_CHECKS)  # the checker's order
    for row in doc["targets"]:
        assert set(row) >= {"target", "library", "version", "verdict", "reason", "checks",
                            "warnings", "findings", "seconds", "python"}  # fmt: skip
        assert row["verdict"] in ("pass", "fail", "error", "unavailable")
        assert isinstance(row["warnings"], int) and isinstance(row["findings"], list)


def _row(target: str, verdict: str = "pass", **checks: str) -> dict[str, Any]:
    return {
        "target": target, "library": "lib", "version": "1.0", "verdict": verdict, "reason": "",
        "checks": dict(checks), "warnings": 0, "findings": [], "seconds": 1.0, "python": "py",
    }  # fmt: skip


def _doc(*rows: dict[str, Any]) -> dict[str, Any]:
    return {
        "date": "2026-12-01T00:00:00+00:00", "gruverify_version": "0.1.0", "profile": "quick",
        "seed": 0, "jobs": 1, "seconds": 1.0, "checks": ["forward[basic]", "box invariance"],
        "machine": {"platform": "Linux", "python": "3.11", "cpus": 2, "processor": "x86_64"},
        "targets": list(rows),
    }  # fmt: skip


def test_a_known_finding_is_explained_with_its_upstream_report_in_json_and_markdown() -> None:
    report = {
        "verdict": "fail", "warnings": 1, "complete": True,
        "checks": [
            {"name": "forward[basic]", "device": "cpu", "status": "failed", "message": "off\nmore"},
            {"name": "box invariance", "device": "cpu", "status": "warning", "message": "1+u"},
        ],
    }  # fmt: skip
    part = row_from_report("flax-nnx", report)
    assert part["checks"] == {"forward[basic]": "failed", "box invariance": "warning"}
    explained, unexplained = part["findings"]
    assert "no b_hn" in explained["explanation"] and "google/flax#5594" in explained["upstream"]
    assert explained["message"] == "off"
    assert unexplained["explanation"] == "" and unexplained["status"] == "warning"
    md = render_markdown(_doc({**_row("flax-nnx", "fail"), **part}))
    assert "| `flax-nnx` | **FAIL** | **warn** |" in md
    assert "google/flax#5594" in md and "not explained yet: 1+u" in md


def test_a_partial_report_is_an_error() -> None:
    part = row_from_report("torch-gru", {"verdict": "pass", "complete": False, "checks": []})
    assert part["verdict"] == "error" and "did not finish" in part["reason"]


def test_a_target_without_its_framework_or_interpreter_is_unavailable_with_the_reason(
    tmp_path: Path,
) -> None:
    plan = MatrixPlan(("paddle", "mlx"), str(tmp_path), profile="quick", checks=FAST_CHECKS,
                      python_for={"mlx": str(tmp_path / "no-python")})  # fmt: skip
    try:
        import paddle  # noqa: F401
    except ImportError:
        paddle_missing = True
    else:  # pragma: no cover - an environment with paddle
        paddle_missing = False
    rows = {r["target"]: r for r in run_matrix(plan)["targets"]}
    assert rows["mlx"]["verdict"] == "unavailable"
    assert "no interpreter at" in rows["mlx"]["reason"] and "--python-for" in rows["mlx"]["reason"]
    if paddle_missing:
        assert rows["paddle"]["verdict"] == "unavailable"
        assert "needs paddlepaddle" in rows["paddle"]["reason"], rows["paddle"]
        assert not rows["paddle"]["reason"].startswith("gruverify: error")
        assert "| `paddle` | n/a |" in render_markdown(_doc(rows["paddle"]))


def test_a_target_past_its_limit_is_killed_and_is_an_error(tmp_path: Path) -> None:
    plan = MatrixPlan(("torch-gru",), str(tmp_path), profile="quick", target_limit=0.5)
    (row,) = run_matrix(plan)["targets"]
    assert row["verdict"] == "error" and "within 0.5 s" in row["reason"]


def test_regressions_are_detected_in_verdicts_statuses_and_availability() -> None:
    before = _doc(
        _row("a", **{"forward[basic]": "passed", "box invariance": "passed"}),
        _row("b", **{"forward[basic]": "passed"}),
        _row("c", "fail", **{"forward[basic]": "failed"}),
        _row("d"),
    )
    after = _doc(
        _row("a", **{"forward[basic]": "passed", "box invariance": "warning"}),
        _row("b", "fail", **{"forward[basic]": "failed"}),
        _row("c", "pass", **{"forward[basic]": "passed"}),  # better: not a regression
        {**_row("d", "unavailable"), "reason": "no module"},
        _row("e", "fail"),  # new: not compared
    )
    assert regressions(before, after) == [
        "a: box invariance: passed -> warning",
        "b: verdict pass -> fail",
        "b: forward[basic]: passed -> failed",
        "d: pass -> unavailable (no module)",
    ]
    assert regressions(after, after) == []
    assert regressions(after, before) == ["c: verdict pass -> fail",
                                          "c: forward[basic]: passed -> failed"]  # fmt: skip


def test_fail_on_regression_exits_1_against_a_planted_better_previous_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["matrix", "--targets", "numpy-reference", "--profile", "quick",
            "--check", "eval without dropout"]  # fmt: skip
    code, _, _ = run_main(capsys, *args, "--out", str(tmp_path / "first"))
    doc = json.loads((tmp_path / "first" / "matrix.json").read_text())
    assert code == 0 and doc["targets"][0]["checks"] == {"eval without dropout": "skipped"}
    same = tmp_path / "same.json"
    same.write_text(json.dumps(doc))
    code, out, _ = run_main(capsys, *args, "--out", str(tmp_path / "o1"), "--fail-on-regression",
                            str(same))  # fmt: skip
    assert code == 0 and "REGRESSION" not in out
    # Planted: the previous run passed the check the reference skips (it has no dropout).
    doc["targets"][0]["checks"]["eval without dropout"] = "passed"
    better = tmp_path / "better.json"
    better.write_text(json.dumps(doc))
    code, out, _ = run_main(capsys, *args, "--out", str(tmp_path / "o2"), "--fail-on-regression",
                            str(better))  # fmt: skip
    assert code == 1
    assert "REGRESSION numpy-reference: eval without dropout: passed -> skipped" in out


def test_jobs_bounds_how_many_targets_run_at_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    lock, running, peak = threading.Lock(), [0], [0]

    def fake(plan: MatrixPlan, target: str) -> dict[str, Any]:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.2)
        with lock:
            running[0] -= 1
        return {**_row(target), "python": sys.executable, "library": ""}

    monkeypatch.setattr(matrix, "run_target", fake)
    names = ("torch-gru", "torch-grucell", "numpy-reference", "torch-reference")
    for jobs in (1, 2):
        peak[0] = 0
        doc = run_matrix(MatrixPlan(names, str(tmp_path), jobs=jobs))
        assert peak[0] == jobs
        assert [r["target"] for r in doc["targets"]] == list(names)  # the order asked for


def test_keras_on_tensorflow_targets_get_their_backend_and_the_others_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert matrix.child_env("tflite")["KERAS_BACKEND"] == "tensorflow"
    assert matrix.child_env("keras-tensorflow")["KERAS_BACKEND"] == "tensorflow"
    assert matrix.child_env("tf2onnx")["KERAS_BACKEND"] == "tensorflow"
    assert "KERAS_BACKEND" not in matrix.child_env("keras-reset-after")
    assert "KERAS_BACKEND" not in matrix.child_env("tf-keras")  # Keras 2 does not read it


def test_each_target_runs_with_its_own_keras_backend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process of a row gets ``child_env(target)``: a Keras-on-TensorFlow row TensorFlow's
    backend whatever this process has, the others none."""
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    seen: dict[str, dict[str, str]] = {}

    def fake_run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
        seen[cmd[4]] = kw["env"]  # type: ignore[assignment]
        return subprocess.CompletedProcess(cmd, 2, "", "needs a framework")

    monkeypatch.setattr(matrix.subprocess, "run", fake_run)
    plan = MatrixPlan(("tflite", "keras-reset-after"), str(tmp_path))
    for target in plan.targets:
        assert matrix.run_target(plan, target)["verdict"] == "unavailable"
    assert seen["tflite"]["KERAS_BACKEND"] == "tensorflow"
    assert "KERAS_BACKEND" not in seen["keras-reset-after"]


def test_the_check_command_carries_profile_seed_timeouts_and_checks(tmp_path: Path) -> None:
    plan = MatrixPlan(("torch-compile", "mlx"), str(tmp_path), profile="quick", seed=3,
                      timeout_for={"mlx": 12.5}, checks=("determinism",))  # fmt: skip
    cmd = plan.check_command("torch-compile", "r.json")
    assert cmd[:5] == [sys.executable, "-m", "gruverify", "check", "torch-compile"]
    assert cmd[cmd.index("--timeout") + 1] == "300"  # its first calls compile
    assert cmd[cmd.index("--profile") + 1] == "quick" and cmd[cmd.index("--seed") + 1] == "3"
    assert cmd[cmd.index("--check") + 1] == "determinism"
    mlx_cmd = plan.check_command("mlx", "r.json")
    assert mlx_cmd[mlx_cmd.index("--timeout") + 1] == "12.5"


def test_the_config_table_sets_interpreters_timeouts_jobs_and_targets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "gruverify.toml"
    config.write_text(
        '[tool.gruverify.matrix]\ntargets = ["numpy-reference"]\njobs = 1\n'
        f'python = {{numpy-reference = "{tmp_path / "nope"}"}}\ntimeout = {{mlx = 30}}\n'
    )
    table = load_matrix_table(str(config))
    assert table["jobs"] == 1 and table["timeout"] == {"mlx": 30}
    code, out, _ = run_main(capsys, "matrix", "--config", str(config), "--out", str(tmp_path / "o"))
    assert code == 0 and "UNAVAILABLE numpy-reference" in out and "no interpreter at" in out
    config.write_text("[tool.gruverify.matrix]\njbos = 2\n")
    with pytest.raises(MatrixError, match="unknown key 'jbos'"):
        load_matrix_table(str(config))
    config.write_text('[tool.gruverify.matrix]\npython = {padle = "x"}\n')
    with pytest.raises(MatrixError, match="unknown target 'padle'"):
        load_matrix_table(str(config))


def test_each_targets_check_reads_the_matrix_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``matrix --config FILE``: each target's check reads ``[tool.gruverify]`` from FILE, so a
    finding acknowledged there for one target (``[[tool.gruverify.ignore]]``) is ignored in
    that row and in no other."""
    config = tmp_path / "gruverify.toml"
    config.write_text(
        '[tool.gruverify.matrix]\ntargets = ["numpy-reference", "torch-reference"]\n\n'
        '[[tool.gruverify.ignore]]\ntarget = "numpy-reference"\ncheck = "determinism"\n'
        'reason = "acknowledged in the matrix config"\n'
    )
    plan = MatrixPlan(("numpy-reference",), str(tmp_path), config=str(config))
    cmd = plan.check_command("numpy-reference", "r.json")
    assert cmd[cmd.index("--config") + 1] == str(config.resolve())
    assert "--config" not in MatrixPlan(("mlx",), ".").check_command("mlx", "r.json")
    out_dir = tmp_path / "o"
    code, _, _ = run_main(capsys, "matrix", "--config", str(config), "--out", str(out_dir),
                          "--profile", "quick", "--check", "determinism")  # fmt: skip
    doc = json.loads((out_dir / "matrix.json").read_text())
    rows = {r["target"]: r["checks"] for r in doc["targets"]}
    assert code == 0 and rows["numpy-reference"] == {"determinism": "ignored"}, rows
    assert rows["torch-reference"] == {"determinism": "passed"}, rows


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--targets", "torch-gur"], "did you mean 'torch-gru'?"),
        (["--python-for", "paddle"], "expected TARGET=VALUE"),
        (["--jobs", "0"], "--jobs must be at least 1"),
        (["--fail-on-regression", "no/such.json"], "no/such.json"),
    ],
)
def test_bad_matrix_arguments_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], says: str
) -> None:
    code, _, err = run_main(capsys, "matrix", "--out", str(tmp_path), *args)
    assert code == 2 and says in err, err
    assert len(err.strip().splitlines()) == 1


def test_compiling_targets_start_first_and_rows_keep_the_order_asked_for(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    started: list[str] = []

    def fake(plan: MatrixPlan, target: str) -> dict[str, Any]:
        started.append(target)
        return {**_row(target), "python": sys.executable, "library": ""}

    monkeypatch.setattr(matrix, "run_target", fake)
    names = ("torch-gru", "torch-export", "mlx", "torch-compile")
    doc = run_matrix(MatrixPlan(names, str(tmp_path), jobs=1))
    assert started == ["torch-compile", "torch-export", "torch-gru", "mlx"]
    assert [r["target"] for r in doc["targets"]] == list(names)


CANNOT_CONVERT = {
    "tvm": "OpNotImplemented",
    "onnx2torch": "Converter is not implemented",
    "onnxruntime-dynamic-int8": "leaves GRU nodes in float",
    "openvino-nncf-int8": "compresses no weight of a GRUSequence",
}
"""Rows whose converter (or quantizer) cannot take a GRU here -> what their reason must say."""


def test_every_finding_in_the_published_matrix_is_explained() -> None:
    """docs/conformance-matrix.json (scripts/conformance_matrix.sh): each failed, warning or error
    check carries a known explanation from gruverify/targets/findings.py, still current."""
    from gruverify.targets.findings import finding_for

    published = Path(__file__).resolve().parents[1] / "docs" / "conformance-matrix.json"
    doc = json.loads(published.read_text(encoding="utf-8"))
    assert len(doc["targets"]) >= 16
    for row in doc["targets"]:
        # a conversion path that cannot take a GRU is a row that says why (tvm: the converter's
        # own refusal); any other unavailable row means an environment was missing
        if row["target"] in CANNOT_CONVERT:
            assert (
                row["verdict"] == "unavailable" and CANNOT_CONVERT[row["target"]] in row["reason"]
            )
        else:
            assert row["verdict"] != "unavailable", row["target"]
        for f in row["findings"]:
            known = finding_for(row["target"], f["check"])
            assert known is not None and f["explanation"] == known.what, (row["target"], f)
