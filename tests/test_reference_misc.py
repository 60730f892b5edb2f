"""Laws of the numpy reference that need no other library: layouts, defaults, step Jacobians,
input validation and the random-parameter options.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from gruverify.core.params import (
    VARIANTS,
    ParameterError,
    Variant,
    random_gru_params,
    random_rnn_params,
)
from gruverify.core.shapes import ShapeError
from gruverify.reference import numpy_reference as ref
from gruverify.reference.finite_differences import complex_step_jacobian

FORWARDS = {
    "gru-reset_after": lambda p, *a, **k: ref.gru_forward(p, *a, variant="reset_after", **k),
    "gru-reset_before": lambda p, *a, **k: ref.gru_forward(p, *a, variant="reset_before", **k),
    "rnn": ref.rnn_forward,
}


def _params(name: str, I: int = 3, H: int = 4, layers: int = 2, seed: int = 0) -> Any:
    make = random_rnn_params if name == "rnn" else random_gru_params
    return make(I, H, layers, True, rng=seed)


def test_variants_differ_on_random_weights() -> None:
    """reset-after and reset-before differ by more than 0.05 (0.19 measured) on random weights."""
    rng = np.random.default_rng(0)
    params = random_gru_params(8, 16, rng=rng)
    x = rng.standard_normal((20, 4, 8))
    a = ref.gru_forward(params, x, variant="reset_after").output
    b = ref.gru_forward(params, x, variant="reset_before").output
    diff = float(np.max(np.abs(a - b)))
    assert diff > 0.05, f"variants differ by only {diff:.3g} (expected > 0.05)"


@pytest.mark.parametrize("name", list(FORWARDS))
def test_h0_none_equals_zeros(name: str) -> None:
    """``forward(x) == forward(x, zeros)`` exactly, outputs and final states."""
    params = _params(name)
    x = np.random.default_rng(1).standard_normal((5, 3, 3))
    a = FORWARDS[name](params, x)
    b = FORWARDS[name](params, x, np.zeros((4, 3, 4)))
    assert np.array_equal(a.output, b.output) and np.array_equal(a.h_n, b.h_n), (
        f"{name}: h0=None vs zeros max diff {np.max(np.abs(a.output - b.output)):.3g}"
    )


@pytest.mark.parametrize("name", list(FORWARDS))
def test_batch_first_equals_time_major_transposed(name: str) -> None:
    """``forward(x.transpose(1,0,2), batch_first=True)`` is ``forward(x)`` transposed; same h_n."""
    rng = np.random.default_rng(2)
    params = _params(name)
    x, h0, lens = rng.standard_normal((6, 3, 3)), rng.standard_normal((4, 3, 4)), [6, 2, 4]
    tm = FORWARDS[name](params, x, h0, lengths=lens)
    bf = FORWARDS[name](params, x.transpose(1, 0, 2), h0, batch_first=True, lengths=lens)
    assert bf.output.shape == (3, 6, 8)
    assert np.array_equal(bf.output, tm.output.transpose(1, 0, 2)), f"{name}: outputs differ"
    assert np.array_equal(bf.h_n, tm.h_n), f"{name}: h_n differs"


@pytest.mark.parametrize("name", list(FORWARDS))
def test_unbatched_equals_batch_of_one(name: str) -> None:
    """``forward(x (T, I), h0 (L*D, H))`` == ``forward(x[:, None], h0[:, None])`` squeezed."""
    rng = np.random.default_rng(3)
    params = _params(name)
    x, h0 = rng.standard_normal((7, 3)), rng.standard_normal((4, 4))
    one = FORWARDS[name](params, x, h0)
    batch = FORWARDS[name](params, x[:, None], h0[:, None])
    assert one.output.shape == (7, 8) and one.h_n.shape == (4, 4)
    assert np.array_equal(one.output, batch.output[:, 0]) and np.array_equal(
        one.h_n, batch.h_n[:, 0]
    ), f"{name}: unbatched differs from batch of 1"


def _step_jacobian_numerical(step: Any, B: int, H: int, h: np.ndarray) -> np.ndarray:
    """Complex-step Jacobian of the flat map h (B*H) -> h' (B*H), split into (B, H, H) blocks.

    Also asserts the cross-batch blocks are zero: sequence b's step never reads sequence c's state.
    """
    J = complex_step_jacobian(lambda v: step(v.reshape(B, H)), h.ravel())
    blocks = J.reshape(B, H, B, H)
    for b in range(B):
        for c in range(B):
            if b != c:
                assert np.all(blocks[b, :, c, :] == 0), f"batch {b} depends on batch {c}"
    return np.stack([blocks[b, :, b, :] for b in range(B)])


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize(("B", "I", "H"), [(1, 1, 1), (3, 7, 3), (2, 4, 6)])
def test_gru_step_jacobian_equals_complex_step(variant: Variant, B: int, I: int, H: int) -> None:
    """``gru_step_jacobian`` (docs/gru-math.md section 3, closed form) == complex-step dh'/dh to
    1e-12."""
    rng = np.random.default_rng(B + I + H)
    cell = random_gru_params(I, H, rng=rng, scale=1.0).cell(0)
    x, h = rng.standard_normal((B, I)), rng.uniform(-1, 1, (B, H))
    J = ref.gru_step_jacobian(cell, x, h, variant=variant)
    J_num = _step_jacobian_numerical(
        lambda v: ref.gru_cell_step(cell, x, v, variant=variant)[0], B, H, h
    )
    err = float(np.max(np.abs(J - J_num)))
    assert J.shape == (B, H, H) and err <= 1e-12, f"{variant} B={B} I={I} H={H}: max abs {err:.3g}"


@pytest.mark.parametrize(("B", "I", "H"), [(1, 1, 1), (3, 7, 3), (2, 4, 6)])
def test_rnn_step_jacobian_equals_complex_step(B: int, I: int, H: int) -> None:
    """``rnn_step_jacobian = D(1 - h'^2) W_hh`` == complex-step dh'/dh of one RNN step to 1e-12."""
    rng = np.random.default_rng(B * I * H)
    params = random_rnn_params(I, H, rng=rng, scale=1.0)
    x, h = rng.standard_normal((B, I)), rng.uniform(-1, 1, (B, H))
    J = ref.rnn_step_jacobian(params.cell(0), x, h)
    J_num = _step_jacobian_numerical(
        lambda v: ref.rnn_forward(params, x[None], v[None]).h_n[0], B, H, h
    )
    err = float(np.max(np.abs(J - J_num)))
    assert J.shape == (B, H, H) and err <= 1e-12, f"RNN B={B} I={I} H={H}: max abs {err:.3g}"


def test_gru_step_jacobian_catches_planted_error() -> None:
    """The comparison above flags a Jacobian with the dz/dh term (``... W_hz``) dropped."""
    rng = np.random.default_rng(9)
    cell = random_gru_params(3, 4, rng=rng, scale=1.0).cell(0)
    x, h = rng.standard_normal((2, 3)), rng.uniform(-1, 1, (2, 4))
    step = ref.gru_cell_step(cell, x, h)[1]
    wrong = ref.gru_step_jacobian(cell, x, h) - (
        ((step["h_prev"] - step["n"]) * step["z"] * step["one_minus_z"])[:, :, None]
        * cell.W_hz[None]
    )
    J_num = _step_jacobian_numerical(lambda v: ref.gru_cell_step(cell, x, v)[0], 2, 4, h)
    err = float(np.max(np.abs(wrong - J_num)))
    assert err > 1e-3, f"dropped term changed the Jacobian by only {err:.3g}"


# ---------------------------------------------------------------------------------------------
# Bad inputs raise a clear error.


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"x": np.zeros((5, 2, 4))}, ShapeError, "input has 4 features, the network expects"),
        ({"x": np.zeros((5, 2, 3, 1))}, ShapeError, "input must be 2-D"),
        ({"h0": np.zeros((4, 3, 4))}, ShapeError, r"state has shape \(4, 3, 4\), expected \(4, 2"),
        ({"h0": np.zeros((2, 2, 4))}, ShapeError, r"state has shape \(2, 2, 4\), expected \(4, 2"),
        ({"h0": np.zeros((4, 4))}, ShapeError, r"state has shape \(4, 4\), expected \(4, 2, 4\)"),
        ({"lengths": [0, 5]}, ShapeError, r"lengths must lie in \[1, T=5\]"),
        ({"lengths": [6, 5]}, ShapeError, r"lengths must lie in \[1, T=5\], got min 5 and max 6"),
        ({"lengths": [1, 2, 3]}, ShapeError, r"lengths has shape \(3,\), expected \(2,\)"),
        ({"lengths": [1.0, 2.0]}, ShapeError, "lengths must be integers"),
        ({"x": np.zeros((5, 3)), "lengths": [5]}, ShapeError, "lengths need a batched input"),
        ({"variant": "cho"}, ValueError, "unknown GRU variant 'cho'"),
    ],
    ids=[
        "features",
        "rank",
        "h0-batch",
        "h0-layers",
        "h0-unbatched",
        "length-0",
        "length>T",
        "lengths-shape",
        "lengths-float",
        "lengths-unbatched",
        "variant",
    ],
)
def test_bad_inputs_raise(kwargs: dict[str, Any], error: type[Exception], message: str) -> None:
    """Wrong feature size, wrong h0 shape, bad lengths, unknown variant: a named error."""
    params = random_gru_params(3, 4, 2, True, rng=0)  # state (4, B, 4)
    call: dict[str, Any] = {"x": np.zeros((5, 2, 3)), "h0": None, **kwargs}
    x, h0 = call.pop("x"), call.pop("h0")
    with pytest.raises(error, match=message):
        ref.gru_forward(params, x, h0, **call)
    with pytest.raises(error, match=message):
        ref.gru_backward(params, x, h0, **call)


def test_bad_cotangent_shapes_raise() -> None:
    params = random_gru_params(3, 4, rng=0)
    x = np.zeros((5, 2, 3))
    with pytest.raises(ValueError, match=r"output cotangent has shape \(5, 2, 3\)"):
        ref.gru_backward(params, x, d_output=np.zeros((5, 2, 3)))
    with pytest.raises(ValueError, match=r"h_n cotangent has shape \(2, 4\)"):
        ref.gru_backward(params, x, d_h_n=np.zeros((2, 4)))


def test_rnn_bad_inputs_raise() -> None:
    params = random_rnn_params(3, 4, rng=0)
    with pytest.raises(ShapeError, match="input has 2 features"):
        ref.rnn_forward(params, np.zeros((5, 2, 2)))
    with pytest.raises(ShapeError, match="lengths need a batched input"):
        ref.rnn_forward(params, np.zeros((5, 3)), lengths=[5])


# ---------------------------------------------------------------------------------------------
# random_gru_params / random_rnn_params options.


def test_chrono_init_bias_range() -> None:
    """chrono_tmax: ``b_iz = log(U[1, T_max - 1])`` in [0, log(T_max - 1)], ``b_hz = 0``."""
    T_max = 50
    params = random_gru_params(3, 200, 2, True, rng=0, chrono_tmax=T_max)
    for name, cell in (("l0", params.cell(0, 0)), ("l1_reverse", params.cell(1, 1))):
        lo, hi = float(cell.b_iz.min()), float(cell.b_iz.max())
        assert lo >= 0.0 and hi <= np.log(T_max - 1), f"{name}: b_iz in [{lo}, {hi}]"
        assert hi - lo > 0.5 * np.log(T_max - 1), f"{name}: b_iz spread only [{lo}, {hi}]"
        assert not np.any(cell.b_hz), f"{name}: b_hz not zero"
    with pytest.raises(ParameterError, match="chrono_tmax must exceed 2"):
        random_gru_params(3, 4, rng=0, chrono_tmax=2)


@pytest.mark.parametrize("bias", [True, False])
def test_z_bias_offset_shifts_only_b_iz(bias: bool) -> None:
    """Same seed with ``z_bias_offset=c``: ``b_iz`` moves by exactly c, nothing else changes."""
    base = random_gru_params(3, 5, 2, True, bias, rng=4)
    shifted = random_gru_params(3, 5, 2, True, bias, rng=4, z_bias_offset=3.0)
    assert shifted.bias, "a stack with a z-bias offset must carry its biases"
    for (name, a), (_, b) in zip(base.named(), shifted.named(), strict=True):
        want = a + 3.0 if name.endswith(".b_iz") else a
        assert np.array_equal(b, want), f"{name}: max diff {np.max(np.abs(b - want)):.3g}"


@pytest.mark.parametrize("orthogonal", [False, True])
def test_sigma_max_rescales_rnn_w_hh(orthogonal: bool) -> None:
    """``sigma_max`` makes the largest singular value of every W_hh that number (1e-14 rel)."""
    params = random_rnn_params(3, 8, 2, True, rng=5, sigma_max=0.9, orthogonal=orthogonal)
    for layer in range(2):
        for d in range(2):
            s = np.linalg.svd(params.cell(layer, d).W_hh, compute_uv=False)
            assert abs(s[0] - 0.9) <= 1e-14, f"l{layer} dir {d}: sigma_max {s[0]!r}"
            if orthogonal:
                assert np.allclose(s, 0.9, rtol=0, atol=1e-14), f"not a scaled orthogonal: {s}"


def test_split_leaf_gradients_zeros_what_autodiff_left_out() -> None:
    """The one split every autodiff adapter uses: a ``None`` gradient becomes zeros of its leaf's
    shape, ``dh0`` comes from the second leaf only when ``h0`` was given, zeros of h_n otherwise."""
    from gruverify.core.problem import split_leaf_gradients

    x, h0, w = np.ones((2, 3)), np.ones((1, 3)), np.ones((4,))
    dx, dh0, rest = split_leaf_gradients(
        [x * 2, None, w * 3], [x, h0, w], True, (9,), lambda g: g + 0.5
    )
    assert np.array_equal(dx, np.full((2, 3), 2.5)) and np.array_equal(dh0, np.zeros((1, 3)))
    assert len(rest) == 1 and np.array_equal(rest[0], np.full(4, 3.5))
    dx, dh0, rest = split_leaf_gradients([x, None], [x, w], False, (1, 2, 3), lambda g: g)
    assert np.array_equal(dh0, np.zeros((1, 2, 3))) and np.array_equal(rest[0], np.zeros(4))


def test_the_digest_tells_stacks_of_equal_values_and_other_shapes_apart() -> None:
    """``StackParams.digest`` is the cache key targets load weights under: one bidirectional
    layer and two stacked layers (input size = hidden size) hold the same number of values, and
    with the same values they must still get different digests (a shared key ran one stack's
    weights for the other: tflite-dynamic-int8, forward[bidirectional])."""
    from gruverify.core.params import random_gru_params

    two_layers = random_gru_params(3, 3, num_layers=2, rng=0)
    bidirectional = random_gru_params(3, 3, bidirectional=True, rng=1)
    same_values = bidirectional.unflat(two_layers.flat())
    assert np.array_equal(same_values.flat(), two_layers.flat())
    assert same_values.digest() != two_layers.digest()
    assert two_layers.digest() == random_gru_params(3, 3, num_layers=2, rng=0).digest()
