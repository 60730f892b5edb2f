"""Sizes as options (issue 13): ``--max-hidden / --max-steps / --max-batch``, where draws go, the
long-sequence check of the default run, and the scale-only planted bugs of ``gruverify.zoo.scale``.

- ``path_sizes`` / ``path_steps`` / ``sized_configs`` stay in range, favour tile boundaries and
  powers of two, reach the maximum, and cap an example's work by dropping layers;
- ``Sizes`` validates its limits and gives the options that reproduce them;
- each scale mutant differs from ``torch.nn.GRU`` only where its kernel path changes, passes the
  default sizes (the chunk-boundary one excepted: the default ``forward[long]`` catches it) and is
  flagged with its size options (``SCALE_OPTIONS``); a correct hand-written GRU passes with them;
- the command line takes the options (a bad value is a usage error), repeats them in the
  reproduce command, and skips ``forward[long]`` under a ``--max-steps`` shorter than it.

The checker runs use the quick profile and one check each, at sizes just past the boundary.
"""

from __future__ import annotations

import collections
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gruverify.conformance import run_checks
from gruverify.conformance.cases import LONG_STEPS, Sizes, check_cases
from gruverify.conformance.checks import CHECKS
from gruverify.core.problem import Capabilities
from gruverify.strategies import TILES, path_sizes, path_steps, sized_configs
from gruverify.zoo import MUTANTS, SCALE_MUTANTS, SCALE_OPTIONS, ZooGRU
from gruverify.zoo import scale as S

F64 = torch.float64


def _draws(strategy: st.SearchStrategy[Any], n: int = 200) -> list[Any]:
    out: list[Any] = []

    @settings(max_examples=n, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(strategy)
    def collect(v: Any) -> None:
        out.append(v)

    collect()
    return out


def _near_tile(v: int) -> bool:
    return any(v % t in (0, 1, t - 1) for t in TILES)


def test_path_sizes_favour_tile_boundaries_and_reach_the_maximum() -> None:
    vals = _draws(path_sizes(256))
    assert all(1 <= v <= 256 for v in vals)
    big = [v for v in vals if v > 9]
    assert sum(map(_near_tile, big)) >= 0.5 * len(big), sorted(big)
    assert {33, 63, 64, 65, 127, 128, 129, 255, 256} <= set(vals)


def test_path_steps_favour_powers_of_two_and_one_past() -> None:
    vals = _draws(path_steps(300))
    assert all(1 <= v <= 300 for v in vals)
    # hypothesis never repeats a draw of one integer: every mark shows once, the rest is spread
    marks = {2**k + d for k in range(1, 9) for d in (0, 1)} | {300}
    assert marks <= set(vals), sorted(marks - set(vals))
    assert all(33 <= v <= 130 for v in _draws(path_steps(130, 33), 50))


def test_sized_configs_cap_the_work_and_memory_of_an_example() -> None:
    budget, states = 300 * 40 * 256 * 512, 300 * 40 * 256
    for c in _draws(sized_configs(max_steps=300, max_batch=40, max_size=256)):
        mem = c.steps * (c.batch or 1) * c.hidden_size
        one = mem * (c.input_size + c.hidden_size)
        stack = (2 if c.bidirectional else 1) * c.num_layers
        assert stack == 1 or (one * stack <= budget and mem * stack <= states), c


def test_sizes_validate_and_give_their_options() -> None:
    assert not Sizes().scaled and Sizes().options() == []
    s = Sizes(hidden=64, steps=300)
    assert s.scaled and s.options() == ["--max-hidden", "64", "--max-steps", "300"]
    assert (s.max_hidden, s.max_steps, s.max_batch) == (64, 300, 4)
    assert Sizes().long_steps() == LONG_STEPS
    assert Sizes(steps=300).long_steps() == (33, 300)
    assert Sizes(steps=20).long_steps() is None
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="positive integer"):
            Sizes(hidden=bad)  # type: ignore[arg-type]


def test_default_draws_keep_small_sizes_and_the_long_check_crosses_32() -> None:
    caps = Capabilities()
    small = _draws(check_cases(caps), 60)
    assert max(c.config.steps for c in small) <= 9
    assert max(c.config.hidden_size for c in small) <= 9
    long_checks = [c for c in CHECKS if c.long]
    assert [c.name for c in long_checks] == ["forward[long]", "gradient[long]"]
    for long_check in long_checks:
        long = _draws(long_check.cases(caps), 30)
        steps = collections.Counter(c.config.steps for c in long)
        assert min(steps) >= 33 and max(steps) <= 130, steps
        assert max(c.config.hidden_size for c in long) <= 9


# -- the scale mutants against torch.nn.GRU ----------------------------------------------------


def _error(cls: type[ZooGRU], T: int, B: int, H: int, I: int = 3) -> float:
    """max |mutant - torch.nn.GRU| in float64 on one random problem of these sizes."""
    torch.manual_seed(0)
    ref = torch.nn.GRU(I, H).double()
    mod = cls(I, H).double()
    mod.load_state_dict(ref.state_dict())
    x = torch.randn(T, B, I, dtype=F64)
    h0 = torch.rand(1, B, H, dtype=F64) * 1.8 - 0.9
    with torch.no_grad():
        (y1, h1), (y2, h2) = ref(x, h0), mod(x, h0)
    return float(max((y1 - y2).abs().max(), (h1 - h2).abs().max()))


EXPOSURE = {  # (exposing sizes, the largest default-size control): (T, B, H)
    "HiddenTileTail": ((3, 2, 33), (9, 4, 9)),
    "BatchBlockTail": ((3, 9, 4), (9, 4, 9)),
    "LongSequenceSpill": ((258, 1, 3), (130, 4, 9)),
    "ChunkBoundaryState": ((33, 1, 3), (32, 4, 9)),
}


@pytest.mark.parametrize("name", sorted(SCALE_MUTANTS))
def test_scale_mutant_differs_only_past_its_boundary(name: str) -> None:
    cls = SCALE_MUTANTS[name].cls
    exposing, control = EXPOSURE[name]
    assert _error(cls, *exposing) > 1e-6, f"{name} equals torch at {exposing}"
    assert _error(cls, *control) <= 1e-12, f"{name} differs from torch at {control}"


def test_scale_catalogue() -> None:
    assert set(SCALE_OPTIONS) == set(SCALE_MUTANTS) == set(EXPOSURE)
    assert MUTANTS["ChunkBoundaryState"] == SCALE_MUTANTS["ChunkBoundaryState"]
    for name, entry in SCALE_MUTANTS.items():
        assert getattr(S, name) is entry.cls and entry.cls.__doc__


# -- the checker -------------------------------------------------------------------------------

# each scale mutant with the maximum one past its boundary (the maximum itself is a favoured draw;
# the CLI's --max-* in SCALE_OPTIONS are larger, the tests keep the run cheap)
FLAGGING_SIZES = {
    "HiddenTileTail": {"max_hidden": 33},
    "BatchBlockTail": {"max_batch": 9},
    "LongSequenceSpill": {"max_steps": 257, "max_hidden": 4},
    "ChunkBoundaryState": {},
}


def _run(target: str, check: str, profile: str = "quick", **sizes: Any) -> Any:
    report = run_checks(target, device="cpu", dtype="float32", profile=profile, seed=0,
                        checks=[check], **sizes)  # fmt: skip
    (result,) = report.checks
    return result


@pytest.mark.parametrize("name", sorted(SCALE_MUTANTS))
def test_scale_mutant_passes_the_default_or_is_caught_by_forward_long(name: str) -> None:
    entry = SCALE_MUTANTS[name]
    result = _run(f"gruverify.zoo.scale:{name}", entry.check)
    if SCALE_OPTIONS[name]:
        assert result.status == "passed", f"{name} flagged at the default sizes: {result.message}"
    else:
        assert result.status == "failed", f"{name} passed {entry.check} by default"


@pytest.mark.parametrize("name", sorted(n for n in SCALE_MUTANTS if SCALE_OPTIONS[n]))
def test_scale_mutant_is_flagged_with_size_options(name: str, monkeypatch: Any) -> None:
    from gruverify.conformance import runner

    monkeypatch.setitem(runner.SHRINK_SECONDS, "ci", 0.5)  # the verdict, not a minimal case
    entry = SCALE_MUTANTS[name]
    result = _run(f"gruverify.zoo.scale:{name}", entry.check, "ci", **FLAGGING_SIZES[name])
    assert result.status == "failed", f"{name} not flagged with {FLAGGING_SIZES[name]}"
    assert "--max-" in (result.counterexample or {}).get("reproduce", "")


@pytest.mark.parametrize(
    "check", ["forward[basic]", "forward[long]", "gradient[output]", "gradient[long]",
              "memory layouts"],
)  # fmt: skip
def test_correct_hand_written_gru_passes_with_size_options(check: str) -> None:
    result = _run("gruverify.zoo:ZooGRU", check, max_hidden=40, max_steps=70, max_batch=12)
    assert result.status == "passed", f"false alarm: {result.message}"


@pytest.mark.parametrize("check", ["forward[long]", "gradient[long]"])
def test_long_checks_skipped_under_a_short_max_steps(check: str) -> None:
    result = _run("torch-gru", check, max_steps=20)
    assert result.status == "skipped" and "--max-steps 20" in result.message


def test_cli_size_options(tmp_path: Any, capsys: Any) -> None:
    from gruverify.cli import main

    for bad in ("0", "x", "-1"):
        with pytest.raises(SystemExit) as e:
            main(["check", "--max-hidden", bad])
        assert e.value.code == 2
    capsys.readouterr()
    code = main(["check", "gruverify.zoo.scale:HiddenTileTail", "--device", "cpu", "--profile",
                 "quick", "--seed", "0", "--check", "forward[basic]", "--max-hidden", "40",
                 "--artifacts", str(tmp_path)])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 1, out
    assert "--max-hidden 40" in out  # the reproduce command repeats the sizes


def test_pytest_plugin_takes_the_sizes(monkeypatch: Any) -> None:
    from gruverify.conformance import runner
    from gruverify.pytest_plugin import run_one_check
    from gruverify.zoo.scale import HiddenTileTail

    monkeypatch.setitem(runner.SHRINK_SECONDS, "ci", 0.5)
    run_one_check(HiddenTileTail, "forward[basic]", profile="quick")  # passes the default
    with pytest.raises(pytest.fail.Exception, match="--max-hidden 33"):
        run_one_check(HiddenTileTail, "forward[basic]", profile="ci", max_hidden=33)


def test_settings_file_gives_the_sizes(tmp_path: Any, capsys: Any, monkeypatch: Any) -> None:
    from gruverify.cli import main
    from gruverify.conformance import runner

    monkeypatch.setitem(runner.SHRINK_SECONDS, "ci", 0.5)
    config = tmp_path / "gruverify.toml"
    config.write_text("[tool.gruverify]\nmax_hidden = 33\nmax_batch = 2\n")
    code = main(["check", "gruverify.zoo.scale:HiddenTileTail", "--device", "cpu", "--config",
                 str(config), "--check", "forward[basic]", "--artifacts", str(tmp_path)])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 1, out
    assert "--max-hidden 33 --max-batch 2" in out
    config.write_text("[tool.gruverify]\nmax_hidden = 0\n")
    assert main(["check", "--config", str(config), "--check", "forward[basic]"]) == 2
