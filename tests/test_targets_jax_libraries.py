"""The Equinox and Haiku targets against the float64 reference of their own variant.

Laws: ``equinox.nn.GRUCell`` scanned (and vmapped over the batch) computes the reset-after GRU and
its gradients; ``haiku.GRU`` under ``hk.dynamic_unroll`` (``hk.DeepRNN`` stacks, reverse unrolls
for two directions) computes the *reset-before* GRU and its gradients, within the float32 error
model's tolerance, over every feature each target claims; each is visibly wrong against the other
variant; declared-missing features carry their reasons and are refused when asked for.
"""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("jax", reason="jax is an optional dependency")

from test_targets_external import assert_computes_its_variant, make_problem

EQUINOX_CASES = {
    "basic": {},
    "no-bias-no-h0-batch-first": {"I": 2, "H": 3, "bias": False, "h0": False, "batch_first": True},
    "unbatched": {"I": 2, "H": 3, "batched": False},
    "batch-1-T-1": {"B": 1, "T": 1, "seed": 3},
}
HAIKU_CASES = {
    **EQUINOX_CASES,
    "3-layers": {"I": 2, "H": 3, "layers": 3},
    "bidirectional-2-layers-batch-first": {"layers": 2, "bidirectional": True, "batch_first": True},
    "bidirectional-unbatched-no-h0": {"bidirectional": True, "batched": False, "h0": False},
}


@pytest.fixture(scope="module")
def equinox() -> Any:
    pytest.importorskip("equinox", reason="equinox is an optional dependency")
    from gruverify.targets.equinox_target import EquinoxGRUCellTarget

    return EquinoxGRUCellTarget()


@pytest.fixture(scope="module")
def haiku() -> Any:
    pytest.importorskip("haiku", reason="dm-haiku is an optional dependency")
    from gruverify.targets.haiku_target import HaikuGRUTarget

    return HaikuGRUTarget()


@pytest.mark.parametrize("case", list(EQUINOX_CASES))
def test_equinox_computes_the_reset_after_gru(equinox: Any, case: str) -> None:
    assert equinox.variant == "reset_after"
    assert_computes_its_variant(equinox, make_problem(**EQUINOX_CASES[case]))


@pytest.mark.parametrize("case", list(HAIKU_CASES))
def test_haiku_computes_the_reset_before_gru(haiku: Any, case: str) -> None:
    assert haiku.variant == "reset_before"
    assert_computes_its_variant(haiku, make_problem(**HAIKU_CASES[case]))


def test_missing_features_are_declared_and_refused(equinox: Any, haiku: Any) -> None:
    for target, features in ((equinox, ("multilayer", "bidirectional", "lengths", "dropout")),
                             (haiku, ("lengths", "dropout"))):  # fmt: skip
        for feature in features:
            assert not target.capabilities.supports(feature)
            assert target.capabilities.reason(feature)
        with pytest.raises(ValueError):
            target.forward(make_problem(lengths=[5, 2, 3]))
    with pytest.raises(ValueError, match="one layer"):
        equinox.forward(make_problem(layers=2))


def test_a_wrong_initial_state_shape_is_refused(equinox: Any, haiku: Any) -> None:
    for target in (equinox, haiku):
        problem = make_problem(layers=1)
        bad = problem.h0[:, :1]
        with pytest.raises(ValueError, match="h0 has shape"):
            target.forward(type(problem)(problem.params, problem.x, bad))


def test_the_jax_targets_refuse_float64_and_other_devices(equinox: Any, haiku: Any) -> None:
    """One guard (``jax_compiled.require_jax``) for the three JAX libraries: float64 would need
    jax's process-wide x64 switch, and jax would run on a GPU whenever it has one."""
    pytest.importorskip("flax", reason="flax is an optional dependency")
    from gruverify.targets.errors import TargetError
    from gruverify.targets.flax_target import FlaxGRUCellTarget

    for build in (type(equinox), type(haiku), lambda **kw: FlaxGRUCellTarget("linen", **kw)):
        with pytest.raises(TargetError, match=r"float32 only .* not 'float64'"):
            build(dtype="float64")
        with pytest.raises(TargetError, match="on the cpu here, not 'cuda'"):
            build(device="cuda")


def test_one_compilation_serves_every_weight_set_of_a_configuration(
    equinox: Any, haiku: Any
) -> None:
    """``JaxCompiledTarget`` jits a run and its VJP once per configuration key: new weights and
    inputs of the same shape reuse it; another configuration compiles anew."""
    for target in (equinox, haiku):
        target.forward(make_problem(I=2, H=3, seed=30))
        before = len(target._jitted)
        for seed in (31, 32):
            target.forward(make_problem(I=2, H=3, seed=seed))
            target.gradients(make_problem(I=2, H=3, seed=seed), None, None)
        assert len(target._jitted) == before, target.name
        target.forward(make_problem(I=3, H=2, seed=33))
        assert len(target._jitted) == before + 1, target.name
