"""The arithmetics implementations compute in, and rounding to a storage dtype.

An ``Arithmetic`` is a storage dtype and an effective unit roundoff ``u``: float64 2^-53, float32
2^-24, TF32 2^-11 (10 stored mantissa bits: cuDNN's GRU runs float32 matmuls in TF32 when
``torch.backends.cudnn.allow_tf32`` is set, the default; plain matmuls when
``torch.backends.cuda.matmul.allow_tf32`` is), float16 2^-11, bfloat16 2^-8; cuDNN's own float32
GRU with TF32 off 2^-18 (measured, ``CUDNN_FLOAT32``). ``arithmetic_for`` picks the one torch uses.
``round_to_dtype`` rounds data to a storage dtype exactly as torch does. The tolerances built on
these live in ``gruverify.error_model``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from gruverify.core.dtypes import DTYPES

__all__ = [
    "ARITHMETICS",
    "BACKENDS",
    "CUDNN_FLOAT32",
    "LARGEST_FINITE",
    "Arithmetic",
    "arithmetic_for",
    "round_to_dtype",
    "worst_entry",
]


@dataclasses.dataclass(frozen=True)
class Arithmetic:
    """The arithmetic an implementation computes in: a storage dtype and an effective unit roundoff.

    ``activation_error``: how far each sigmoid and tanh value may be from the exact one, as a
    declared assumption (0: correctly rounded activations). Relative to the activations' unit
    range, so an absolute bound: approximate activations (fast tanh/exp paths, rational
    approximations, lookup tables) declare it and the error model folds it in
    (``gruverify.error_model``)."""

    name: str
    storage: str
    unit_roundoff: float
    activation_error: float = 0.0

    def __str__(self) -> str:
        text = f"{self.name} (u = {self.unit_roundoff:.3g})"
        if self.activation_error:
            text += f", activations within {self.activation_error:.3g} (declared)"
        return text


ARITHMETICS: dict[str, Arithmetic] = {
    "float64": Arithmetic("float64", "float64", 2.0**-53),
    "float32": Arithmetic("float32", "float32", 2.0**-24),
    "tf32": Arithmetic("tf32", "float32", 2.0**-11),
    "float16": Arithmetic("float16", "float16", 2.0**-11),
    "bfloat16": Arithmetic("bfloat16", "bfloat16", 2.0**-8),
}


CUDNN_FLOAT32 = Arithmetic("cudnn-float32", "float32", 2.0**-18)
"""cuDNN's fused float32 GRU with TF32 off: float32 storage, effective unit roundoff 2^-18.

Its kernels are not float32-accurate. Measured on an H100 (torch 2.11, cuDNN 9.19, TF32 off):
max abs output errors of 3.8e-7 to 5.1e-6 against the float64 reference on four shapes up to
T = 1000, H = 1024 (docs/measurements.md), and over 150 drawn checker cases errors up to
15 times (forward) and 27 times (gradients) the float32 tolerance (u = 2^-24), while cuDNN's
packed-sequence path stayed within 0.23 times it. So its effective u is about 27 * 2^-24;
2^-18 = 64 * 2^-24 leaves a factor of 2.4 and is still 128 times tighter than TF32's 2^-11.
Not an entry of ``ARITHMETICS`` (which is keyed by storage format and TF32): ask
``arithmetic_for(dtype, device, backend="cudnn")``."""

BACKENDS = ("cudnn",)
"""Backends with an arithmetic of their own (``arithmetic_for(..., backend=)``)."""


LARGEST_FINITE: dict[str, float] = {
    "float64": 1.7e308,
    "float32": 3.4e38,
    "float16": 65504.0,
    "bfloat16": 3.39e38,
}
"""The largest finite number of each storage format (rounded down)."""


def arithmetic_for(dtype: str, device: str = "cpu", backend: str | None = None) -> Arithmetic:
    """The arithmetic torch uses for a GRU in ``dtype`` on ``device``, reading the TF32 flags.

    float32 on CUDA is TF32 when cuDNN's ``allow_tf32`` (the default: True) or
    ``torch.backends.cuda.matmul.allow_tf32`` is set; otherwise plain float32, except for
    ``backend="cudnn"`` (cuDNN's fused GRU, e.g. ``torch.nn.GRU`` on CUDA), which is then
    ``CUDNN_FLOAT32`` (u = 2^-18, measured). ``backend`` None: ordinary torch ops.
    """
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; expected float64, float32, float16 or bfloat16")
    if backend is not None and backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected None or one of {BACKENDS}")
    if dtype == "float32" and str(device).startswith("cuda"):
        import torch

        if torch.backends.cudnn.allow_tf32 or torch.backends.cuda.matmul.allow_tf32:
            return ARITHMETICS["tf32"]
        if backend == "cudnn":
            return CUDNN_FLOAT32
    return ARITHMETICS[dtype]


def round_to_dtype(a: np.ndarray, dtype: str) -> np.ndarray:
    """``a`` rounded to ``dtype`` (a torch dtype name) and back to float64, exactly as torch rounds."""
    if dtype == "float64":
        return np.asarray(a, dtype=np.float64)
    import torch

    # torch takes no numpy array with negative strides (e.g. x[::-1]): make it contiguous
    t = torch.as_tensor(np.ascontiguousarray(a, dtype=np.float64)).to(getattr(torch, dtype))
    return t.to(torch.float64).numpy()


def worst_entry(a: np.ndarray) -> tuple[tuple[int, ...], float]:
    """The index and value of the largest entry of a non-empty ``a``, a NaN counting as larger than
    any number: the index is ``argmax(where(isnan(a), inf, a))`` (the first on ties), the value
    ``inf`` for a NaN. How every error report finds its worst element."""
    arr = np.asarray(a, dtype=np.float64)
    worst = np.where(np.isnan(arr), np.inf, arr)
    flat = int(np.argmax(worst))
    index = tuple(int(i) for i in np.unravel_index(flat, arr.shape))
    return index, float(worst.flat[flat])
