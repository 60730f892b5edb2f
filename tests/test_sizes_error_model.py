"""The error model's speed and scale machinery (issue 13), each shown to keep the tolerances.

- ``stack_forward(traces=False)`` gives the traced run's outputs exactly (padding, directions,
  layers) and keeps no traces;
- ``ErrorModel.forward`` caches per problem: a hit equals the computation, returns copies, and
  problems that differ only in structure (two layers vs two directions of one unit, whose arrays
  are the same) or in a single entry do not collide; large problems are not cached;
- the float64 reference on a torch device (``reference_run(variant, device)``, the path a CUDA
  target takes for large problems) gives the numpy reference's outputs and tolerances of the same
  size, tested here on the CPU; ``reference_device`` picks numpy for CPU targets, small problems,
  declared activation errors and machines without CUDA;
- a planted bug in the device path (the rounding left out) is seen: its tolerance collapses.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from gruverify import error_model as em
from gruverify.reference import numpy_reference as nr
from gruverify.strategies import Config, make_case

F32 = em.ARITHMETICS["float32"]
CONFIGS = [
    Config(7, 3, 4, 5),
    Config(6, 3, 2, 3, num_layers=2, bidirectional=True, padded=True),
    Config(5, None, 3, 4),
    Config(4, 2, 3, 3, batch_first=True, initial_state=False),
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=str)
def test_untraced_forward_equals_the_traced_one(cfg: Config) -> None:
    p = make_case(cfg, "ordinary", "ordinary", 3).problem
    args = (nr.gru_step, p.params, p.x, p.h0, "reset_after", p.batch_first, p.lengths)
    traced, bare = nr.stack_forward(*args), nr.stack_forward(*args, traces=False)
    assert np.array_equal(traced.output, bare.output) and np.array_equal(traced.h_n, bare.h_n)
    assert bare.traces == () and traced.traces


def test_forward_cache_hits_equal_the_computation_and_return_copies() -> None:
    p = make_case(Config(6, 2, 3, 4), "ordinary", "ordinary", 1).problem
    model = em.ErrorModel(F32)
    em._FORWARD_CACHE.clear()
    ref, tol = model.forward(p, "reset_after")
    ref.output[...] = 7.0  # a caller scribbling on its result does not reach the cache
    again, tol2 = model.forward(p, "reset_after")
    assert tol2 == tol and not np.any(again.output == 7.0)
    em._FORWARD_CACHE.clear()
    fresh, tol3 = model.forward(p, "reset_after")
    assert tol3 == tol and np.array_equal(fresh.output, again.output)


def test_forward_cache_keys_tell_structure_and_entries_apart() -> None:
    model = em.ErrorModel(F32)
    layers = make_case(Config(1, None, 1, 1, num_layers=2), "ordinary", "ordinary", 0).problem
    directions = make_case(
        Config(1, None, 1, 1, bidirectional=True), "ordinary", "ordinary", 0
    ).problem
    em._FORWARD_CACHE.clear()
    a, _ = model.forward(layers, "reset_after")
    b, _ = model.forward(directions, "reset_after")
    assert a.output.shape == (1, 1) and b.output.shape == (1, 2)
    x = layers.x.copy()
    x[0, 0] += 1e-12
    nudged = dataclasses.replace(layers, x=x)
    assert em._cache_key(model, nudged, "reset_after") != em._cache_key(
        model, layers, "reset_after"
    )
    other = em.ErrorModel(em.ARITHMETICS["float16"])
    assert em._cache_key(other, layers, "reset_after") != em._cache_key(
        model, layers, "reset_after"
    )
    assert em._cache_key(model, layers, "reset_before") != em._cache_key(
        model, layers, "reset_after"
    )


def test_large_problems_are_not_cached() -> None:
    n = em.FORWARD_CACHE_ELEMENTS
    p = make_case(Config(n // 4 + 1, 2, 2, 2), "ordinary", "ordinary", 0).problem  # x: > n
    assert em._cache_key(em.ErrorModel(F32), p, "reset_after") is None


@pytest.mark.parametrize("cfg", CONFIGS[:3], ids=str)
def test_torch_reference_path_matches_numpy_on_the_cpu(cfg: Config) -> None:
    p = make_case(cfg, "ordinary", "ordinary", 2).problem
    model = em.ErrorModel(F32)
    ref_np, tol_np = model.forward_of(model.reference_run("reset_after"), p)
    ref_t, tol_t = model.forward_of(model.reference_run("reset_after", "cpu"), p)
    assert np.max(np.abs(ref_np.output - ref_t.output)) <= 1e-13
    assert np.max(np.abs(ref_np.h_n - ref_t.h_n)) <= 1e-13
    # other random draws, the same model: tolerances of the same size
    for a, b in ((tol_np.output, tol_t.output), (tol_np.h_n, tol_t.h_n)):
        assert 0.4 <= a / b <= 2.5, (a, b)


def test_torch_reference_path_rounds_at_random() -> None:
    """Planted: a device path that forgot ingredient 4 (no random rounding per step) gives a much
    smaller tolerance on a carried state; the real path does not."""
    p = make_case(Config(60, 2, 3, 4), "chrono", "ordinary", 0).problem
    model = em.ErrorModel(F32)
    honest = model.forward_of(model.reference_run("reset_after", "cpu"), p)[1]

    def no_rounding(pp: em.Problem, rng: np.random.Generator | None) -> em.Outputs:
        return model.reference_run("reset_after", "cpu")(pp, None)

    lazy = model.forward_of(no_rounding, p)[1]
    assert lazy.output < 0.5 * honest.output


def test_reference_device_choice() -> None:
    small = make_case(Config(5, 2, 3, 4), "ordinary", "ordinary", 0).problem
    big = make_case(Config(2, 64, 128, 128), "ordinary", "ordinary", 0).problem
    assert em.DEVICE_REFERENCE_WORK <= 64 * 128 * 256
    assert em.ErrorModel(F32).reference_device(big) is None  # a CPU target
    cuda = em.ErrorModel(F32, device="cuda")
    assert cuda.reference_device(small) is None
    declared = em.ErrorModel(dataclasses.replace(F32, activation_error=1e-4), device="cuda")
    assert declared.reference_device(big) is None
    import torch

    assert cuda.reference_device(big) == ("cuda" if torch.cuda.is_available() else None)


def test_gradients_beyond_the_format_range_are_inconclusive() -> None:
    """Exploding gradients (1e170 at 64 steps, hidden 256, large weights) overflow float32: a
    target's inf or NaN there is the format's. The rule reads the reference gradients."""
    from gruverify.core.problem import Gradients

    p = make_case(Config(3, 2, 3, 4), "ordinary", "ordinary", 0).problem
    zeros = p.params.map(np.zeros_like)

    def grads(scale: float) -> Gradients:
        return Gradients(np.full(np.shape(p.x), scale), np.zeros((1, 2, 4)), zeros)

    em.require_gradients_in_range(grads(1e30), F32, p)  # in range: judged
    em.require_gradients_in_range(grads(1e170), em.ARITHMETICS["float64"], p)
    for bad in (1e38, 1e170, np.inf, np.nan):
        with pytest.raises(em.Inconclusive, match="exceed the range of float32"):
            em.require_gradients_in_range(grads(bad), F32, p)


def test_a_problem_past_the_cache_size_is_not_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    """``FORWARD_CACHE_ELEMENTS`` counts every array's entries (input, state, lengths and each
    parameter): a problem with more is computed each time, never held in memory."""
    model = em.ErrorModel(F32)
    p = make_case(Config(2, 2, 3, 4), "ordinary", "ordinary", 0).problem
    entries = sum(
        int(np.size(a)) for a in (p.x, p.h0, *(v for _, v in p.params.named()))
    )  # fmt: skip
    monkeypatch.setattr(em, "FORWARD_CACHE_ELEMENTS", entries)
    assert em._cache_key(model, p, "reset_after") is not None
    monkeypatch.setattr(em, "FORWARD_CACHE_ELEMENTS", entries - 1)
    assert em._cache_key(model, p, "reset_after") is None
