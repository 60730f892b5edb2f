"""The machinery the sampled mutation run of 2026-12-01 found unjudged (docs/mutation.md):
building a target on its devices, the run's declared arithmetic, the settings' size keys, the
matrix's row verdicts and summary, and the heat map's cells. Each test fails with one of those
mutants; in-process and fast."""

from __future__ import annotations

import json
import pathlib
from typing import Any

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
    with pytest.raises(TargetError, match="--python runs the target in a worker: it cannot go "
                       "with --no-isolate"):  # fmt: skip
        Isolation(False, "/py").applies("torch-gru")

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
