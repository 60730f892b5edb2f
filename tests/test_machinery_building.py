"""The machinery the sampled mutation run of 2026-12-01 found unjudged (docs/mutation.md):
building a target on its devices, the run's declared arithmetic, the settings' size keys, the
matrix's row verdicts and summary, and the heat map's cells. Each test fails with one of those
mutants; in-process and fast."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import numpy as np
import pytest

from gruverify.conformance import building
from gruverify.conformance.building import Isolation, build_one
from gruverify.conformance.config import ConfigError, settings_from
from gruverify.conformance.matrix import _judged, _summary
from gruverify.conformance.matrix_plot import COLOURS, _cell
from gruverify.guard import CallLimits
from gruverify.targets import TargetError
from gruverify.targets.declaration import Declaration


def test_available_devices_names_cuda_as_torch_does(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--device`` names are lower case (``cuda``): what a CUDA machine's discovery gives."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert building.available_devices() == ["cpu", "cuda"]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert building.available_devices() == ["cpu"]


def test_build_one_passes_the_workers_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--python PATH`` reaches the worker that builds the target, with the memory limit."""
    seen: dict[str, Any] = {}

    def fake(target: str, device: str, dtype: Any, declaration: Any, **kw: Any) -> str:
        seen.update(kw, target=target, device=device)
        return "built"

    monkeypatch.setattr(building, "build_isolated", fake)
    got = build_one("torch-gru", "cpu", None, False, CallLimits(), Isolation(True, "/py", 123))
    assert got == "built" and seen["python"] == "/py" and seen["memory_limit"] == 123, seen


def test_isolation_refusals_say_why() -> None:
    """``--python`` with ``--no-isolate``, or an object that a worker cannot import, is a usage
    error that says which and names the object."""
    with pytest.raises(TargetError) as refused:
        Isolation(False, "/py").applies("torch-gru")
    assert str(refused.value) == (
        "--python runs the target in a worker: it cannot go with --no-isolate"
    )

    class Named:
        name = "my-gru"

    with pytest.raises(TargetError, match="'my-gru' is an object: a worker process can only"):
        Isolation(True).applies(Named())
    assert Isolation(None).applies(Named()) is False and Isolation(True).applies("x") is True


def test_the_cpu_workers_devices_are_the_ones_built(monkeypatch: pytest.MonkeyPatch) -> None:
    """No device named: the devices after the CPU come from the CPU build's ``devices_seen``
    (its worker's torch), not from this process's discovery."""

    class Seen:
        devices_seen = ("cpu", "cuda")

    built: list[str] = []

    def one(target: str, device: str, *args: Any) -> Any:
        built.append(device)
        return Seen()

    monkeypatch.setattr(building, "build_one", one)
    monkeypatch.setattr(building, "available_devices", lambda: ["cpu"])
    impls, results = building.build_each(
        "t", None, None, False, limits=CallLimits(), isolation=Isolation(), skip_refused=True
    )
    assert built == ["cpu", "cuda"] and sorted(impls) == ["cpu", "cuda"] and not results


def test_a_declaration_keeps_and_records_the_activation_error() -> None:
    """A ``Declaration`` keeps a checked activation error, and a counterexample's record declares
    it again (an activation error of 0 declares nothing)."""
    assert Declaration.of_record({"activation_error": 1e-4, "accumulator": "float32"}) == (
        Declaration(activation_error=1e-4, accumulator="float32")
    )
    assert Declaration.of_record({"activation_error": 0.0}) == Declaration()
    with pytest.raises(TargetError, match="activation_error must be in"):
        Declaration.of_record({"activation_error": 0.5})


def test_a_target_that_cannot_take_the_declaration_is_named() -> None:
    class Frozen:
        __slots__ = ("name",)

        def __init__(self) -> None:
            self.name = "frozen-gru"

    with pytest.raises(TargetError, match=r"frozen-gru: cannot declare its accumulator .*give the "
                       "Implementation an accumulator attribute"):  # fmt: skip
        Declaration(accumulator="float32").apply([Frozen()])  # type: ignore[list-item]


@pytest.mark.parametrize("key", ["max_hidden", "max_steps", "max_batch", "timeout"])
def test_size_and_time_settings_must_be_positive(key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        settings_from({key: 0}, "pyproject.toml [tool.gruverify]")


def test_a_target_the_matrix_killed_is_an_error_whatever_its_report_says(
    tmp_path: pathlib.Path,
) -> None:
    """The matrix kills a target past its limit (exit -1): its row is ``error`` with the reason,
    even when the partial report on disk says pass."""
    report = tmp_path / "r.json"
    report.write_text(json.dumps({"verdict": "pass", "complete": True, "checks": []}))
    row = _judged({"reason": ""}, "t", str(report), -1, "killed after 5 s")
    assert (row["verdict"], row["reason"]) == ("error", "killed after 5 s")


def test_the_summary_shows_a_dash_for_an_unknown_version() -> None:
    row = {"target": "t", "library": "lib", "version": None, "verdict": "pass", "reason": "",
           "checks": {"a": "passed"}, "seconds": 1.0}  # fmt: skip
    line = next(x for x in _summary({"targets": [row]}) if x.startswith("| `t`"))
    assert line.startswith("| `t` | lib | - | pass | 1 | 0 | 0 | 0 |"), line
    row["version"] = "1.2"
    assert any("| lib | 1.2 | pass |" in x for x in _summary({"targets": [row]}))


def test_heat_map_cells_take_their_status_colour() -> None:
    """A cell's colour index is its status's; an unavailable target's cells are all
    ``unavailable``; a check the target did not run counts as skipped."""
    statuses = list(COLOURS)
    row = {"verdict": "fail", "checks": {"a": "failed", "b": "warning"}}
    assert _cell(row, "a") == statuses.index("failed")
    assert _cell(row, "b") == statuses.index("warning")
    assert _cell(row, "c") == statuses.index("skipped")
    gone = {"verdict": "unavailable", "checks": {"a": "passed"}}
    assert _cell(gone, "a") == statuses.index("unavailable")


# -- found unjudged by the sampled run of 2026-12-07 (docs/mutation.md) ------------------------------


def test_an_in_process_build_runs_under_the_call_ceiling(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building in this process takes ``--timeout`` as its limit (a hung constructor ends)."""
    seen: list[Any] = []
    monkeypatch.setattr(building, "build_target", lambda *a: seen.append(a) or "built")
    assert build_one("torch-gru", "cpu", None, False, CallLimits(7.5), Isolation(False)) == "built"
    assert seen == [("torch-gru", "cpu", None, Declaration(), 7.5)], seen


def test_a_file_with_only_build_system_is_a_pyproject(tmp_path: pathlib.Path) -> None:
    """``--config FILE`` holding any of a pyproject's tables but no ``[tool.gruverify]`` is
    refused as such, not read as a settings file."""
    from gruverify.conformance.config import load_config

    for table in ("build-system", "project", "tool"):
        path = tmp_path / f"{table}.toml"
        path.write_text(f'[{table}]\nx = "y"\n')
        with pytest.raises(ConfigError, match=r"no \[tool\.gruverify\] table"):
            load_config(str(path))


def test_a_target_table_error_names_its_file_and_table() -> None:
    with pytest.raises(ConfigError) as e:
        settings_from({"target": {"torch-gru": 1}}, "conf.toml")
    assert str(e.value) == 'conf.toml [target."torch-gru"]: expected a table of options'


def test_an_exit_status_of_1_is_a_failing_check_not_an_error(tmp_path: pathlib.Path) -> None:
    """``gruverify check`` exits 1 when a check fails: the row keeps the report's verdict; any
    other status without a reason in the report is an error."""
    report = tmp_path / "r.json"
    report.write_text(json.dumps({"verdict": "fail", "complete": True, "checks": []}))
    assert _judged({"reason": ""}, "t", str(report), 1, "")["verdict"] == "fail"
    assert _judged({"reason": ""}, "t", str(report), 0, "")["verdict"] == "fail"
    row = _judged({"reason": ""}, "t", str(report), 3, "boom\nlast words")
    assert (row["verdict"], row["reason"]) == ("error", "last words")
    row = _judged({"reason": ""}, "t", str(report), 2, "")
    assert (row["verdict"], row["reason"]) == ("error", "exit status 2")


def test_findings_list_every_failed_check_after_a_passed_one() -> None:
    from gruverify.conformance.matrix import _findings

    checks = [{"name": "a", "status": "passed"}, {"name": "b", "status": "failed",
              "message": "b broke\nmore"}, {"name": "c", "status": "error"}]  # fmt: skip
    got = _findings("t", checks)
    assert [(f["check"], f["status"], f["message"]) for f in got] == [
        ("b", "failed", "b broke"), ("c", "error", "")]  # fmt: skip


def test_regressions_go_on_past_rows_and_checks_they_cannot_compare() -> None:
    """A target new in this run, one that became unavailable, and a check new in this run are
    each passed over or reported, and the comparison goes on to the rows and checks after."""
    from gruverify.conformance.matrix import regressions

    def row(name: str, verdict: str, **checks: str) -> dict[str, Any]:
        return {"target": name, "verdict": verdict, "reason": "r", "checks": checks}

    previous = {"targets": [row("gone", "pass"), row("worse", "pass", a="passed", b="passed")]}
    current = {"targets": [row("new", "fail"), row("gone", "unavailable"),
                           row("worse", "fail", new="failed", b="failed")]}  # fmt: skip
    assert regressions(previous, current) == [
        "gone: pass -> unavailable (r)", "worse: verdict pass -> fail",
        "worse: b: passed -> failed"]  # fmt: skip


def test_a_matrix_row_records_how_long_its_check_took(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess
    import sys

    from gruverify.conformance import matrix

    def fake_run(command: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        report = command[command.index("--json") + 1]
        pathlib.Path(report).write_text(json.dumps({"verdict": "pass", "checks": []}))
        return subprocess.CompletedProcess(command, 0, "", "")

    clock = iter([100.0, 102.26])
    monkeypatch.setattr(matrix.subprocess, "run", fake_run)
    monkeypatch.setattr(matrix.time, "monotonic", lambda: next(clock))
    plan = matrix.MatrixPlan(
        ("torch-gru",), str(tmp_path), python_for={"torch-gru": sys.executable}
    )
    row = matrix.run_target(plan, "torch-gru")
    assert (row["verdict"], row["seconds"]) == ("pass", 2.3), row


def test_the_markdown_title_is_followed_by_a_blank_line() -> None:
    from gruverify.conformance.matrix import render_markdown

    doc = json.loads(
        (pathlib.Path(__file__).parents[1] / "docs/conformance-matrix.json").read_text()
    )
    lines = render_markdown(doc).splitlines()
    assert lines[:2] == ["# GRU conformance matrix", ""], lines[:3]


def test_memory_and_time_values_say_what_they_refuse() -> None:
    """``--memory-limit 0`` is no limit (0 bytes); a value that is no number names its unit; a
    timeout that is not positive says so with the value."""
    from gruverify.conformance.options import _gibibytes, _seconds

    assert _gibibytes(0) == 0 and _gibibytes("1.5") == 3 * 2**29
    with pytest.raises(ValueError, match=r"^not a number of GiB: 'lots'$"):
        _gibibytes("lots")
    with pytest.raises(ValueError, match=r"must be 0 \(no limit\) or positive GiB, got -1"):
        _gibibytes(-1)
    with pytest.raises(ValueError, match=r"^the timeout must be positive seconds, got 0$"):
        _seconds(0)


def test_a_pinned_case_is_batched_under_forced_lengths() -> None:
    """Sequence lengths need a batch: a check that forces them (or batch_first) turns an
    unbatched pinned case into a batched one."""
    from gruverify.conformance.cases import Pinned
    from gruverify.core.problem import Capabilities
    from gruverify.strategies import Config

    pin = Pinned(Config(5, None, 3, 3), "why")
    assert pin.case(Capabilities()).config.batch is None
    for feature in ("lengths", "batch_first"):
        c = pin.case(Capabilities(), {feature: True}).config
        assert c.batch == 1 and getattr(c, "padded" if feature == "lengths" else feature), c


def test_the_heat_map_shows_each_targets_statuses(tmp_path: pathlib.Path) -> None:
    """The PNG's cells take the colour of each target's statuses: two failed checks cover
    about twice the area of one warning (the legend adds one small patch of each)."""
    pytest.importorskip("matplotlib")
    import matplotlib.image

    from gruverify.conformance.matrix_plot import plot_matrix

    doc = {"checks": ["a", "b", "c"], "gruverify_version": "0", "profile": "quick",
           "date": "2026-12-07", "targets": [{"target": "t", "library": "lib", "version": "1",
                                              "verdict": "fail",
                                              "checks": {"a": "failed", "b": "warning",
                                                         "c": "failed"}}]}  # fmt: skip
    pixels = matplotlib.image.imread(plot_matrix(doc, str(tmp_path / "m.png")))[..., :3]
    rgb = np.round(255 * pixels.reshape(-1, 3)).astype(int)

    def area(status: str) -> int:
        hex_ = COLOURS[status][0]
        want = [int(hex_[i : i + 2], 16) for i in (1, 3, 5)]
        return int(np.sum(np.all(rgb == want, axis=1)))

    failed, warned = area("failed"), area("warning")
    assert warned > 500 and 1.6 < failed / warned < 2.4, (failed, warned)


def test_the_heat_maps_legend_title_and_cells() -> None:
    """The figure: each cell in its status's colour (a check a row did not run: skipped; an
    unavailable target: every cell unavailable), a legend of exactly the statuses shown, each
    patch edged in grey (the white "unavailable" would vanish otherwise), placed right of the
    grid with its top at the grid's top, and the title naming version, profile and date in
    10 pt (the ticks and legend in 8)."""
    pytest.importorskip("matplotlib")
    import matplotlib.colors
    import matplotlib.pyplot as plt

    from gruverify.conformance.matrix_plot import LEGEND_EDGE, matrix_figure

    doc = {"checks": ["a", "b"], "gruverify_version": "9.1", "profile": "ci",
           "date": "2026-12-07T20:00:00", "targets": [
               {"target": "t", "library": "lib", "version": "1", "verdict": "warn",
                "checks": {"a": "warning"}},
               {"target": "u", "library": "other", "version": "", "verdict": "unavailable",
                "checks": {}}]}  # fmt: skip
    fig = matrix_figure(doc)
    try:
        ax = fig.axes[0]
        grid = ax.images[0].get_array().tolist()
        assert grid == [[list(COLOURS).index("warning"), list(COLOURS).index("skipped")],
                        [list(COLOURS).index("unavailable")] * 2]  # fmt: skip
        legend = ax.get_legend()
        assert [t.get_text() for t in legend.get_texts()] == [
            "warn", "skip (missing feature)", "unavailable here"
        ]  # fmt: skip
        for patch in legend.get_patches():
            assert matplotlib.colors.to_hex(patch.get_edgecolor()) == LEGEND_EDGE
        fig.canvas.draw()
        box, frame = legend.get_window_extent(), ax.get_window_extent()
        assert box.x0 > frame.x1 and abs(box.y1 - frame.y1) < 0.1 * frame.height, (box, frame)
        minor = [t.gridline for t in ax.xaxis.get_minor_ticks() + ax.yaxis.get_minor_ticks()]
        assert minor and all(  # the cells parted by thin white lines (wider hides small cells)
            (matplotlib.colors.to_hex(g.get_color()), g.get_linewidth()) == ("#ffffff", 1.5)
            for g in minor
        ), [(g.get_color(), g.get_linewidth()) for g in minor]
        title = ax.title
        assert title.get_text() == "gruverify 9.1 conformance matrix, profile ci, 2026-12-07"
        assert title.get_fontsize() == 10.0
        assert [t.get_text() for t in ax.get_yticklabels()] == ["t (lib 1)", "u (other)"]
    finally:
        plt.close(fig)
