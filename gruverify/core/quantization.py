"""Declared quantization: integer weights and dynamically quantized activations.

A quantized GRU stores its weight matrices as integers ``q`` with a scale ``s`` and a zero point
``zp`` (``w ~ s (q - zp)``) and, when its activations are quantized dynamically, quantizes each
matrix product's other operand (the layer input ``x``, the state ``h``) at every call from that
operand's own range. A ``Quantization`` declares how; the error model
(``gruverify.error_model``) turns it into tolerances.

**Weights.** ``weights`` "int8" (levels -128..127) or "uint8" (0..255), one scale per matrix
(``weight_granularity="tensor"``) or per output row (``"channel"``), ``symmetric`` (zero point 0,
``s = max |w| / 127`` for int8) or not (``s = (max(w, 0) - min(w, 0)) / 255``, a rounded zero
point). ``weight_step`` gives ``s`` per row; a weight rounds to within ``s / 2`` of its float value
(``weight_error_bound``: ``s / 2`` symmetric, ``s`` asymmetric, whose rounded zero point moves the
grid by up to ``s / 2`` more). torch's symmetric int8 observer divides by 127.5 (levels -128..127
around 0), a finer grid than ``max |w| / 127``: its error is within the bound too.

**Activations.** ``activations`` None (weight-only quantization: the products run in float), or
"uint8" / "int8": quantized per call with ``step = (max(v, 0) - min(v, 0)) / L``, ``L = 255``
(``127`` with ``reduce_range``: fbgemm's and x86's 7-bit activations, which torch's dynamic RNNs
ask for), over the whole operand of the call (``activation_granularity="tensor"``) or each row of it
(``"row"``). A call is one matrix product: the input projection of a layer is one call over the
whole sequence and batch (torch's CPU kernels compute ``W_i x`` for all steps at once), the
recurrent product one call per step over the batch. Each quantized operand entry is off by at
most ``step / 2``, so a product's row ``i`` is off by at most ``step / 2 * ||W_i||_1`` per call.

**Batch coupling.** With ``"tensor"`` granularity a sequence's step depends on its batch-mates'
(and the input projection's on the other steps): ``batch_coupled`` is True, and the laws that
compare a batch with its parts (batch independence, chunked continuation, lengths truncation)
hold only within the quantization tolerance, which is how they are then judged.

``quantization_value`` parses the short form a setting or option gives: a preset (``PRESETS``,
e.g. ``"int8-dynamic"``) optionally followed by ``,key=value`` overrides.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

__all__ = [
    "quantization_text",
    "ACTIVATION_FORMATS",
    "GRANULARITIES",
    "PRESETS",
    "TORCH_MIN_STEP",
    "WEIGHT_FORMATS",
    "Quantization",
    "activation_steps",
    "quantization_value",
    "weight_error_bound",
    "weight_step",
]

WEIGHT_FORMATS = ("int8", "uint8")
ACTIVATION_FORMATS = ("uint8", "int8")
GRANULARITIES = {"weight_granularity": ("tensor", "channel"), "activation_granularity": (
    "tensor", "row")}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Quantization:
    """How a target quantizes (module docstring); every field is checked when built."""

    weights: str = "int8"
    weight_granularity: str = "tensor"
    symmetric: bool = True
    activations: str | None = "uint8"
    activation_granularity: str = "tensor"
    reduce_range: bool = False
    min_step: float = 0.0
    """The smallest activation step the target uses: torch's (and fbgemm's)
    ``ChooseQuantizationParams`` raises a scale below ``6.1e-5`` (float16's smallest normal) to
    it, so an operand spanning less than ``127 * 6.1e-5`` is quantized coarser than its span
    implies."""

    def __post_init__(self) -> None:
        if self.weights not in WEIGHT_FORMATS:
            raise ValueError(f"quantization weights must be one of {WEIGHT_FORMATS}, got "
                             f"{self.weights!r}")  # fmt: skip
        if self.activations is not None and self.activations not in ACTIVATION_FORMATS:
            raise ValueError(f"quantization activations must be None or one of "
                             f"{ACTIVATION_FORMATS}, got {self.activations!r}")  # fmt: skip
        for name, allowed in GRANULARITIES.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"quantization {name} must be one of {allowed}, got "
                                 f"{getattr(self, name)!r}")  # fmt: skip
        if (
            isinstance(self.min_step, bool)
            or not isinstance(self.min_step, (int, float))
            or not (0.0 <= self.min_step < 1.0)
        ):
            raise ValueError(f"quantization min_step must be a number in [0, 1), got "
                             f"{self.min_step!r}")  # fmt: skip
        for name in ("symmetric", "reduce_range"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"quantization {name} must be a bool, got "
                                 f"{getattr(self, name)!r}")  # fmt: skip

    @property
    def batch_coupled(self) -> bool:
        """Whether a sequence's result depends on the rest of its batch: activations quantized
        with one scale per call (``"tensor"``)."""
        return self.activations is not None and self.activation_granularity == "tensor"

    @property
    def activation_levels(self) -> int:
        """``L``, the activation grid's steps across its range: 255, or 127 with
        ``reduce_range``."""
        return 127 if self.reduce_range else 255

    def __str__(self) -> str:
        weights = (f"{self.weights} weights per {self.weight_granularity}, "
                   f"{'symmetric' if self.symmetric else 'asymmetric'}")  # fmt: skip
        if self.activations is None:
            return weights + ", float activations"
        bits = ", 7-bit" if self.reduce_range else ""
        coupled = ", batch-coupled" if self.batch_coupled else ""
        return (f"{weights}; {self.activations} activations per {self.activation_granularity}"
                f"{bits} (dynamic){coupled}")  # fmt: skip


TORCH_MIN_STEP = float(np.float32(6.1e-5))
"""``SMALL_SCALE_THRESHOLD`` of torch's ``ATen/native/quantized/cpu/QuantUtils.h`` (a float32)."""

PRESETS: dict[str, Quantization] = {
    "int8-dynamic": Quantization(),
    "int8-dynamic-7bit": Quantization(reduce_range=True, min_step=TORCH_MIN_STEP),
    "int8-dynamic-row": Quantization(weight_granularity="channel", activation_granularity="row"),
    "int8-weights": Quantization(weight_granularity="channel", activations=None),
}
"""The short forms: ``int8-dynamic`` (int8 weights per tensor, symmetric; uint8 activations per
call), ``int8-dynamic-7bit`` (the same with 7-bit activations and torch's smallest step
``TORCH_MIN_STEP``: torch.ao's dynamic GRU on fbgemm and x86), ``int8-dynamic-row`` (weights per channel, activations per row: no batch coupling),
``int8-weights`` (weight-only, per channel)."""


def _field_value(key: str, text: str) -> Any:
    if key in ("symmetric", "reduce_range"):
        if text.lower() not in ("true", "false", "yes", "no", "1", "0"):
            raise ValueError(f"quantization {key} must be true or false, got {text!r}")
        return text.lower() in ("true", "yes", "1")
    if key == "activations" and text.lower() in ("none", "float"):
        return None
    if key == "min_step":
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"quantization min_step must be a number, got {text!r}") from None
    return text


def quantization_value(value: object) -> Quantization | None:
    """A declared quantization: None, a ``Quantization``, a dict of its fields, or the short form
    ``PRESET[,key=value...]`` (``"int8-dynamic"``, ``"int8-dynamic,activation_granularity=row"``);
    ``ValueError`` naming the problem for anything else."""
    if value is None or isinstance(value, Quantization):
        return value
    if isinstance(value, dict):
        try:
            return Quantization(**value)
        except TypeError as e:
            raise ValueError(f"quantization: {e}") from None
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"quantization must be a preset name {sorted(PRESETS)}, got {value!r}")
    head, *overrides = [part.strip() for part in value.split(",")]
    if head not in PRESETS:
        raise ValueError(f"unknown quantization preset {head!r}; known: {sorted(PRESETS)}")
    fields: dict[str, Any] = {}
    names = {f.name for f in dataclasses.fields(Quantization)}
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or key.strip() not in names:
            raise ValueError(f"quantization override {item!r} is not key=value with a key in "
                             f"{sorted(names)}")  # fmt: skip
        fields[key.strip()] = _field_value(key.strip(), text.strip())
    return dataclasses.replace(PRESETS[head], **fields)


def quantization_text(q: Quantization) -> str:
    """The short form of ``q`` (``quantization_value`` reads it back to ``q``): the preset
    ``int8-dynamic`` with an override for each field that differs from it."""
    base = PRESETS["int8-dynamic"]
    parts = ["int8-dynamic"]
    for f in dataclasses.fields(Quantization):
        value = getattr(q, f.name)
        if value == getattr(base, f.name):
            continue
        text = (
            "none" if value is None
            else str(value).lower() if isinstance(value, bool)
            else repr(value) if isinstance(value, float)
            else str(value)
        )  # fmt: skip
        parts.append(f"{f.name}={text}")
    return ",".join(parts)


def weight_step(w: np.ndarray, q: Quantization) -> np.ndarray:
    """The grid step ``s`` of matrix or vector ``w`` under ``q``, one per row (shape ``(rows,
    1)``; a vector's: ``(1,)``): ``max |w| / 127`` (int8 symmetric; uint8 symmetric ``/ 255``)
    or ``(max(w, 0) - min(w, 0)) / 255`` (asymmetric), over the whole matrix (``"tensor"``) or
    each row (``"channel"``)."""
    a = np.asarray(w, dtype=np.float64)
    axis = None if q.weight_granularity == "tensor" or a.ndim < 2 else tuple(range(1, a.ndim))
    keep = a.ndim >= 2
    if q.symmetric:
        levels = 127.0 if q.weights == "int8" else 255.0
        span = np.max(np.abs(a), axis=axis, keepdims=keep) if a.size else np.zeros(1)
    else:
        levels = 255.0
        hi = np.maximum(np.max(a, axis=axis, keepdims=keep), 0.0)
        lo = np.minimum(np.min(a, axis=axis, keepdims=keep), 0.0)
        span = hi - lo
    step = np.asarray(span, dtype=np.float64) / levels
    return np.broadcast_to(step, (a.shape[0], 1) if keep else (1,)).copy()


def weight_error_bound(w: np.ndarray, q: Quantization) -> np.ndarray:
    """How far each quantized weight may be from ``w``: ``s / 2`` (symmetric: rounding to the
    grid), ``s`` (asymmetric: the rounded zero point shifts the grid by up to ``s / 2`` more),
    per row as ``weight_step``."""
    s = weight_step(w, q)
    return s / 2.0 if q.symmetric else s


def activation_steps(v: np.ndarray, q: Quantization, rows: bool) -> np.ndarray:
    """The dynamic quantization step of operand ``v`` (``(..., F)``): ``(max(v, 0) - min(v, 0)) /
    L`` over all of ``v`` (``rows`` False: one call's scale) or over each row's last axis
    (``rows`` True), shaped to broadcast against ``v``, and at least ``q.min_step``.
    ``L = q.activation_levels``."""
    a = np.asarray(v, dtype=np.float64)
    if a.size == 0:
        return np.zeros((1,) * max(a.ndim, 1))
    axis = -1 if rows else None
    hi = np.maximum(np.max(a, axis=axis, keepdims=True), 0.0)
    lo = np.minimum(np.min(a, axis=axis, keepdims=True), 0.0)
    return np.maximum((hi - lo) / q.activation_levels, q.min_step)  # type: ignore[no-any-return]
