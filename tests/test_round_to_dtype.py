"""``round_to_dtype`` rounds exactly as torch does, without torch (bit for bit)."""

from __future__ import annotations

import numpy as np
import pytest

from gruverify.core.arithmetic import round_to_dtype

torch = pytest.importorskip("torch")

LOW = ("float32", "float16", "bfloat16")


def _torch_rounded(a: np.ndarray, dtype: str) -> np.ndarray:
    t = torch.as_tensor(np.ascontiguousarray(a, dtype=np.float64)).to(getattr(torch, dtype))
    return t.to(torch.float64).numpy()  # type: ignore[no-any-return]


def _values() -> np.ndarray:
    """Every magnitude from float32's subnormals past its range, both signs, with the ties and
    near-ties of each format (where a double rounding through float32 shows), and the specials."""
    rng = np.random.default_rng(0)
    exponents = rng.uniform(-155.0, 135.0, size=200_000)
    spread = np.sign(rng.uniform(-1, 1, size=exponents.size)) * 2.0**exponents
    ties = []
    for bits in (7, 10, 23):  # bfloat16, float16, float32 fraction bits
        m = rng.integers(0, 2**bits, size=2000)
        e = rng.integers(-30, 30, size=2000).astype(np.float64)
        base = (1.0 + m / 2.0**bits) * 2.0**e
        half = 2.0 ** (e - bits - 1)
        for nudge in (0.0, 2.0**-40, -(2.0**-40), 2.0**-20):
            ties.append(base + half * (1.0 + nudge))
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 65504.0, 65520.0, 65519.99,
                        3.4028235e38, 3.4e38 * 1.0000001, 1e300, -1e300, 1e-300,
                        2.0**-149, 2.0**-150, 2.0**-151, 2.0**-133, 2.0**-24, 2.0**-25])  # fmt: skip
    return np.concatenate([spread, *ties, special])


@pytest.mark.parametrize("dtype", LOW)
def test_round_to_dtype_matches_torch_bit_for_bit(dtype: str) -> None:
    """Law: ``round_to_dtype(a, d) == float64(torch.tensor(a).to(d))`` entry by entry, NaN for
    NaN, the sign of zero included."""
    a = _values()
    got, want = round_to_dtype(a, dtype), _torch_rounded(a, dtype)
    same = (got == want) & (np.signbit(got) == np.signbit(want))
    same |= np.isnan(got) & np.isnan(want)
    bad = np.flatnonzero(~same)
    assert bad.size == 0, (
        f"{dtype}: {bad.size} of {a.size} values round differently from torch, e.g. "
        f"{a[bad[0]]!r} -> {got[bad[0]]!r}, torch {want[bad[0]]!r}"
    )


def test_double_rounding_through_float32_is_kept() -> None:
    """torch rounds float64 -> float16 through float32: ``1 + 2^-11 + 2^-40`` is a tie in float32
    and goes to 1 (a direct rounding gives ``1 + 2^-10``); the planted direct rounding differs."""
    x = np.array([1.0 + 2.0**-11 + 2.0**-40])
    assert round_to_dtype(x, "float16")[0] == 1.0
    assert np.float64(np.float16(x[0])) == 1.0 + 2.0**-10  # what a direct cast would give


def test_shapes_strides_and_float64() -> None:
    a = np.arange(12.0).reshape(3, 4)[::-1, ::2] / 7.0
    for dtype in LOW:
        assert round_to_dtype(a, dtype).shape == a.shape
        np.testing.assert_array_equal(round_to_dtype(a, dtype), _torch_rounded(a, dtype))
    assert round_to_dtype(a, "float64") is not None
    np.testing.assert_array_equal(round_to_dtype(a, "float64"), a)
    assert round_to_dtype(np.float64(0.1), "bfloat16").shape == ()


def test_unknown_dtype_is_named() -> None:
    with pytest.raises(ValueError, match="unknown dtype 'int8'"):
        round_to_dtype(np.zeros(2), "int8")
