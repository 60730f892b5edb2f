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
from gruverify.core.quantization import Quantization, quantization_value

__all__ = [
    "ARITHMETICS",
    "BACKENDS",
    "CUDNN_FLOAT32",
    "LARGEST_FINITE",
    "TORCH_ACCUMULATOR",
    "TORCH_TF32",
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
    (``gruverify.error_model``).

    ``accumulator``: the format the implementation's matrix products accumulate in (a storage
    format's name, e.g. ``"float32"``), when known; None when not (the error model then assumes the
    products accumulate at ``unit_roundoff`` itself, the conservative reading). TF32 tensor cores
    and torch's float16 and bfloat16 kernels multiply exactly and accumulate in float32: their
    error is the rounding of the operands to ``unit_roundoff`` (none for float16 and bfloat16,
    whose operands are stored in that format already), float32's accumulation and the rounding of
    the result to ``storage``, far less than an accumulation in the format itself
    (``gruverify.error_model.ErrorModel.perturbed``; which arithmetics declare one:
    ``arithmetic_for``)."""

    name: str
    storage: str
    unit_roundoff: float
    activation_error: float = 0.0
    accumulator: str | None = None
    quantization: Quantization | None = None
    """Declared integer quantization of the weights and activations
    (``gruverify.core.quantization``); None: none. A dict or short form (``"int8-dynamic"``) is
    parsed (the isolation protocol sends it as a dict)."""

    def __post_init__(self) -> None:
        if self.accumulator is not None and self.accumulator not in DTYPES:
            raise ValueError(
                f"unknown accumulator {self.accumulator!r}; expected None or one of {DTYPES}"
            )
        if self.quantization is not None and not isinstance(self.quantization, Quantization):
            object.__setattr__(self, "quantization", quantization_value(self.quantization))

    @property
    def accumulator_roundoff(self) -> float | None:
        """The unit roundoff of ``accumulator`` (float32: 2^-24), None when none is declared."""
        if self.accumulator is None:
            return None
        return ARITHMETICS[self.accumulator].unit_roundoff

    def __str__(self) -> str:
        text = f"{self.name} (u = {self.unit_roundoff:.3g})"
        if self.accumulator is not None:
            text += f", {self.accumulator} accumulation"
        if self.activation_error:
            text += f", activations within {self.activation_error:.3g} (declared)"
        if self.quantization is not None:
            text += f", quantized: {self.quantization}"
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

TORCH_ACCUMULATOR = "float32"
"""The format torch's TF32, float16 and bfloat16 matrix products accumulate in (``arithmetic_for``)."""

TORCH_TF32 = dataclasses.replace(ARITHMETICS["tf32"], accumulator=TORCH_ACCUMULATOR)
"""TF32 as torch runs it on CUDA (cuBLAS, cuDNN) and ``reference.emulation`` on the CPU: operands
rounded to TF32, products accumulated in float32."""

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

    The accumulator (``Arithmetic.accumulator``) is torch's where it is known to be float32:
    TF32 (tensor cores multiply TF32 operands exactly and accumulate in float32); float16 and
    bfloat16 on the CPU (torch's CPU matmuls and reductions accumulate in float32, its ``opmath``
    type; calibrated in docs/error-model.md); float16 and bfloat16 in cuDNN's GRU (measured on an
    H100 at hidden 1024: output errors of 1 to 4 units of roundoff, docs/measurements.md, where a
    half-precision accumulation of 1536 products would give tens). Not for float16 and bfloat16
    in cuBLAS while torch allows it reduced-precision reductions
    (``torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction`` and the bf16 flag, on by
    default: split-K partial sums may be added in the format itself), nor for float32 and float64,
    which accumulate in their own format.
    """
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; expected float64, float32, float16 or bfloat16")
    if backend is not None and backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected None or one of {BACKENDS}")
    cuda = str(device).startswith("cuda")
    if dtype == "float32" and cuda:
        import torch

        if torch.backends.cudnn.allow_tf32 or torch.backends.cuda.matmul.allow_tf32:
            return TORCH_TF32
        if backend == "cudnn":
            return CUDNN_FLOAT32
    if dtype in ("float16", "bfloat16") and (
        not cuda or backend == "cudnn" or not _reduced_precision_reduction(dtype)
    ):
        return dataclasses.replace(ARITHMETICS[dtype], accumulator=TORCH_ACCUMULATOR)
    return ARITHMETICS[dtype]


def _reduced_precision_reduction(dtype: str) -> bool:
    """Whether torch lets cuBLAS reduce ``dtype`` (float16, bfloat16) GEMMs in reduced precision
    (True, the conservative answer, when torch does not say)."""
    import torch

    short = "fp16" if dtype == "float16" else "bf16"
    return bool(
        getattr(torch.backends.cuda.matmul, f"allow_{short}_reduced_precision_reduction", True)
    )


def round_to_dtype(a: np.ndarray, dtype: str) -> np.ndarray:
    """``a`` rounded to ``dtype`` (a torch dtype name) and back to float64, exactly as torch rounds.

    torch converts a float64 tensor to float16 or bfloat16 through float32 (two roundings to
    nearest, ties to even: ``1 + 2^-11 + 2^-40`` becomes 1 in float16, not ``1 + 2^-10``), and so
    does this, in numpy alone (the checker's process needs no torch when its target runs in a
    worker): float32 and float16 by numpy's casts, bfloat16 by rounding float32's bit pattern to
    its upper 16 bits (a NaN stays a NaN, a value past bfloat16's range becomes an infinity).
    ``tests/test_round_to_dtype.py`` compares it with torch bit for bit."""
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; expected float64, float32, float16 or bfloat16")
    a64 = np.asarray(a, dtype=np.float64)
    if dtype == "float64":
        return a64
    with np.errstate(over="ignore", invalid="ignore"):  # beyond float32: inf, as torch gives
        f32 = a64.astype(np.float32)
        if dtype == "float16":
            return f32.astype(np.float16).astype(np.float64)
    if dtype == "float32":
        return f32.astype(np.float64)
    return _bfloat16_of(f32)


def _bfloat16_of(f32: np.ndarray) -> np.ndarray:
    """float32 values rounded to bfloat16 (to nearest, ties to even), as float64."""
    bits = f32.view(np.uint32).astype(np.uint64)
    odd = (bits >> np.uint64(16)) & np.uint64(1)
    rounded = ((bits + np.uint64(0x7FFF) + odd) >> np.uint64(16)) << np.uint64(16)
    out = rounded.astype(np.uint32).view(np.float32).astype(np.float64)
    return np.where(np.isnan(f32), np.nan, out)


def worst_entry(a: np.ndarray) -> tuple[tuple[int, ...], float]:
    """The index and value of the largest entry of a non-empty ``a``, a NaN counting as larger than
    any number: the index is ``argmax(where(isnan(a), inf, a))`` (the first on ties), the value
    ``inf`` for a NaN. How every error report finds its worst element."""
    arr = np.asarray(a, dtype=np.float64)
    worst = np.where(np.isnan(arr), np.inf, arr)
    flat = int(np.argmax(worst))
    index = tuple(int(i) for i in np.unravel_index(flat, arr.shape))
    return index, float(worst.flat[flat])
