"""Integration fixes of the conformance checker (issue 4), each with the test that failed before it.

- rounding takes arrays of any stride (``x[::-1]``);
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from gruverify.emulation import round_to_tf32_numpy
from gruverify.error_model import ARITHMETICS, ErrorModel
from gruverify.interface import Problem, round_to_dtype, rounded
from gruverify.params import random_gru_params


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_rounding_takes_negatively_strided_arrays(dtype: str) -> None:
    """``round_to_dtype(x[::-1])`` equals rounding the same values laid out contiguously."""
    x = np.random.default_rng(0).standard_normal((5, 3, 4))
    flipped = x[::-1]
    assert any(s < 0 for s in flipped.strides)
    got = round_to_dtype(flipped, dtype)
    want = round_to_dtype(flipped.copy(), dtype)
    np.testing.assert_array_equal(got, want)
    assert not np.array_equal(got, flipped), "rounding to a narrower dtype changed nothing"
    np.testing.assert_array_equal(round_to_tf32_numpy(flipped), round_to_tf32_numpy(flipped.copy()))


def test_error_model_takes_a_reversed_input() -> None:
    """The error model (which rounds the problem first) runs on a problem whose input is a view."""
    params = random_gru_params(4, 3, rng=1)
    x = np.random.default_rng(2).standard_normal((6, 2, 4))
    view = Problem(params, x[::-1], np.random.default_rng(3).uniform(-1, 1, (1, 2, 3))[:, ::-1])
    copy = dataclasses.replace(view, x=view.x.copy(), h0=np.array(view.h0))
    np.testing.assert_array_equal(rounded(view, "float32").x, rounded(copy, "float32").x)
    model = ErrorModel(ARITHMETICS["float32"])
    (ref_v, tol_v), (ref_c, tol_c) = (model.forward(p, "reset_after") for p in (view, copy))
    np.testing.assert_array_equal(ref_v.output, ref_c.output)
    assert tol_v == tol_c


def test_cudnn_float32_arithmetic_lives_in_the_error_model() -> None:
    """cuDNN's float32 GRU with TF32 off is ``error_model.CUDNN_FLOAT32`` (u = 2^-18), asked for
    with ``backend="cudnn"``; TF32 still wins while its flags are on; the CPU is plain float32.
    The torch target takes it from there. Flags only: no GPU needed."""
    import torch

    from gruverify import error_model
    from gruverify.error_model import CUDNN_FLOAT32, arithmetic_for
    from gruverify.targets import TorchModuleTarget, torch_module

    assert CUDNN_FLOAT32.unit_roundoff == 2.0**-18 and CUDNN_FLOAT32.storage == "float32"
    assert torch_module.CUDNN_FLOAT32 is error_model.CUDNN_FLOAT32
    flags = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    gru = TorchModuleTarget(torch.nn.GRU, device="cuda", probe=False)
    try:
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
        assert arithmetic_for("float32", "cuda", backend="cudnn") is CUDNN_FLOAT32
        assert arithmetic_for("float32", "cuda").name == "float32"
        assert arithmetic_for("float64", "cuda", backend="cudnn").name == "float64"
        assert gru.arithmetic is CUDNN_FLOAT32
        torch.backends.cudnn.allow_tf32 = True
        assert arithmetic_for("float32", "cuda", backend="cudnn").name == "tf32"
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = flags
    assert arithmetic_for("float32", "cpu", backend="cudnn").name == "float32"
    with pytest.raises(ValueError, match="unknown backend 'miopen'"):
        arithmetic_for("float32", "cuda", backend="miopen")
