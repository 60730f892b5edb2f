"""A dynamically quantized GRU in numpy, correct or with one planted quantization bug.

``QuantizedGRU`` computes what torch.ao's dynamic int8 GRU computes (``targets.torch_quantized``),
written out: int8 symmetric weights, ``q = clip(round(w / s), -128, 127)`` with ``s = max |w| /
127.5`` over each stacked weight tensor (``weight_ih``, ``weight_hh``: the three gates' blocks) or,
``granularity="channel"``, over each row; activations quantized per call to unsigned 7 bits as
torch's ``ChooseQuantizationParams`` does (range extended to 0, ``s = span / 127``, at least
``6.1e-5``, a rounded zero point), the input projection of a layer in one call over the whole
sequence and batch, the recurrent product once per step over the batch; biases and gates in
float64. It declares that (``quantization``) and, unless ``hand_over=False``, hands over its
effective weights (``effective_params``: the dequantized weights it multiplies by, bug included,
as torch.ao's target reads them from its packed parameters).

``bug`` plants one defect (``BUGS``). A weight bug then shows in the effective weights, which
``law_effective_weights`` compares with the drawn ones; with ``hand_over=False`` only the
tolerance of the declared quantization can see it:

- ``"zero_point"``: the update gate's recurrent weights dequantized with a zero point off by one,
  ``s (q - 1)``;
- ``"gate_scale"``: the update gate's recurrent rows dequantized with the reset gate's rows'
  scales (per channel; with one scale per tensor the gates share it and nothing changes);
- ``"saturation"``: ``round(w / s)`` of 128 (the largest weight, ``max |w| / s = 127.5``) wrapped
  to -128 as an int8 overflow instead of clamped to 127;
- ``"stale_scale"``: the input projection's activation scale and zero point kept from the first
  call and reused by every later one (inputs beyond that range clamp).

``weight_shift=k`` moves one weight block (``shift_block``, the update gate's recurrent
weights by default) by ``k`` weight steps in the kernel only: its effective weights do not show it (a kernel that multiplies by other weights than the
ones it stores; the measurement of the smallest detectable weight error, docs/benchmarks.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gruverify.core.params import GRUCellParams, StackParams, Variant
from gruverify.core.problem import Capabilities, Outputs, Problem
from gruverify.core.quantization import TORCH_MIN_STEP, Quantization
from gruverify.core.shapes import to_time_major
from gruverify.reference import numpy_reference as nr

__all__ = [
    "BUGS",
    "QuantizedGRU",
    "choose_activation_grid",
    "correct_quantized_gru",
    "quantize_weights",
    "stale_activation_scale",
    "zero_point_off_by_one",
]

BUGS = ("zero_point", "gate_scale", "saturation", "stale_scale")
_INPUT = ("W_ir", "W_iz", "W_in")
_RECURRENT = ("W_hr", "W_hz", "W_hn")
_LEVELS = 127  # 7-bit activations (reduce_range)


def choose_activation_grid(lo: float, hi: float) -> tuple[float, int]:
    """``(scale, zero_point)`` of torch's ``ChooseQuantizationParams`` for ``[lo, hi]`` on
    ``0..127``: the range extended to 0, ``s = (hi - lo) / 127`` (0.1 for an empty range), raised
    to ``TORCH_MIN_STEP`` with the range stretched, ``zp = round(-lo / s)`` clipped to ``0..127``."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    s = (hi - lo) / _LEVELS
    if np.float32(s) == 0.0:
        s = 0.1
    if s < TORCH_MIN_STEP:
        if lo == 0.0:
            hi = TORCH_MIN_STEP * _LEVELS
        elif hi == 0.0:
            lo = -TORCH_MIN_STEP * _LEVELS
        else:
            lo, hi = lo * TORCH_MIN_STEP / s, hi * TORCH_MIN_STEP / s
        s = TORCH_MIN_STEP
    zp = int(np.clip(np.rint(-lo / s), 0, _LEVELS))
    return float(np.float32(s)), zp


def _quantize_activations(v: np.ndarray, grid: tuple[float, int]) -> np.ndarray:
    s, zp = grid
    return (np.clip(np.rint(v / s) + zp, 0, _LEVELS) - zp) * s  # type: ignore[no-any-return]


def _grid_of(v: np.ndarray) -> tuple[float, int]:
    return choose_activation_grid(float(np.min(v, initial=0.0)), float(np.max(v, initial=0.0)))


def quantize_weights(
    blocks: tuple[np.ndarray, ...], granularity: str, bug: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The stacked gate blocks ``(3H, F)`` as int8 ``q`` and their scales ``s`` (``(3H, 1)``):
    ``s = max |w| / 127.5`` per tensor or per row, ``q = clip(round(w / s), -128, 127)`` (with
    ``bug="saturation"``: wrapped as an int8 overflow)."""
    w = np.concatenate([np.asarray(b, dtype=np.float32).astype(np.float64) for b in blocks])
    top = np.max(np.abs(w), axis=1, keepdims=True) if granularity == "channel" else (
        np.full((w.shape[0], 1), np.max(np.abs(w), initial=0.0)))  # fmt: skip
    s = np.where(top > 0, top / 127.5, 1.0).astype(np.float32).astype(np.float64)
    q = np.rint(w / s)
    q = (q + 128) % 256 - 128 if bug == "saturation" else np.clip(q, -128, 127)
    return q, s


class QuantizedGRU:
    """A numpy dynamic-int8 GRU (module docstring)."""

    variant: Variant = "reset_after"

    def __init__(
        self, *, granularity: str = "tensor", bug: str | None = None, hand_over: bool = True,
        weight_shift: float = 0.0, shift_block: str = "W_hz", name: str | None = None,
    ) -> None:  # fmt: skip
        if bug is not None and bug not in BUGS:
            raise ValueError(f"unknown quantization bug {bug!r}; known: {BUGS}")
        self.granularity, self.bug, self.hand_over = granularity, bug, hand_over
        self.effective_params: Any = self._effective if hand_over else None
        self.weight_shift, self.shift_block = weight_shift, shift_block
        if shift_block not in _INPUT + _RECURRENT:
            raise ValueError(
                f"shift_block must be one of {_INPUT + _RECURRENT}, got {shift_block!r}"
            )
        self.name = name or f"quantized-gru[{granularity}{', ' + bug if bug else ''}]"
        self.dtype, self.device = "float32", "cpu"
        self.capabilities = Capabilities({
            "gradients": "a quantized inference kernel", "dropout": "inference only",
            "unbatched": "the kernel takes (T, B, I)",
        })  # fmt: skip
        self.quantization = Quantization(weight_granularity=granularity, reduce_range=True,
                                         min_step=TORCH_MIN_STEP)  # fmt: skip
        self._stale: tuple[float, int] | None = None

    def _cell(self, cell: GRUCellParams[Any], shift: float) -> GRUCellParams[Any]:
        """The dequantized weights of one cell as the planted bug has them, W_hz moved by
        ``shift`` steps."""
        out: dict[str, np.ndarray] = {}
        for names in (_INPUT, _RECURRENT):
            bug = self.bug
            q, s = quantize_weights(tuple(getattr(cell, n) for n in names), self.granularity,
                                    "saturation" if bug == "saturation" else None)  # fmt: skip
            w = q * s
            H = w.shape[0] // 3
            if names is _RECURRENT:
                z = slice(H, 2 * H)
                if bug == "zero_point":
                    w[z] = (q[z] - 1) * s[z]
                elif bug == "gate_scale":
                    w[z] = q[z] * s[:H]
            if self.shift_block in names:
                b = names.index(self.shift_block)
                w[b * H : (b + 1) * H] += shift * s[b * H : (b + 1) * H]
            out.update({n: w[i * H : (i + 1) * H] for i, n in enumerate(names)})
        biases = {n: np.asarray(getattr(cell, n), np.float32).astype(np.float64)
                  for n in ("b_ir", "b_iz", "b_in", "b_hr", "b_hz", "b_hn")}  # fmt: skip
        return GRUCellParams(**out, **biases)

    def _params(self, params: StackParams[Any], shift: float) -> StackParams[Any]:
        rows = tuple(tuple(self._cell(c, shift) for c in row) for row in params.cells)
        return StackParams(rows, bias=params.bias)

    def _effective(self, params: StackParams[Any]) -> StackParams[Any]:
        """``effective_params``: the weights the kernel multiplies by (its bug included), but for
        ``weight_shift``, which the kernel applies without reporting it."""
        return self._params(params, 0.0)

    def _step(self, grid: tuple[float, int]) -> Any:
        def step(cell: Any, x: np.ndarray, h: np.ndarray, variant: Any) -> Any:
            xq = _quantize_activations(x, grid)
            hq = _quantize_activations(h, _grid_of(h))  # the recurrent call: this step's batch
            c = nr.gru_gates(cell, xq, hq, variant)
            c["h_prev"] = h
            c["h"] = nr.gru_update(c, h)
            return c["h"], c

        return step

    def forward(self, problem: Problem) -> Outputs:
        if not problem.batched:
            raise ValueError(f"{self.name}: {self.capabilities.reason('unbatched')}")
        params = self._params(problem.params, self.weight_shift)
        D = params.num_directions
        seq: Any = np.asarray(problem.x, dtype=np.float32).astype(np.float64)
        h0 = None if problem.h0 is None else np.asarray(problem.h0, np.float32).astype(np.float64)
        finals = []
        for k, row in enumerate(params.cells):
            v = to_time_major(seq, problem)
            if problem.lengths is not None:
                t = np.arange(v.shape[0])[:, None]
                v = np.where((t < np.asarray(problem.lengths)[None, :])[..., None], v, 0.0)
            grid = _grid_of(v)  # the input projection: one call over the sequence and batch
            if self.bug == "stale_scale" and k == 0:
                self._stale = self._stale or grid
                grid = self._stale
            one: StackParams[Any] = StackParams((row,), bias=params.bias)
            h0k = None if h0 is None else h0[k * D : (k + 1) * D]
            r = nr.stack_forward(self._step(grid), one, seq, h0k, self.variant,
                                 problem.batch_first, problem.lengths, traces=False)  # fmt: skip
            seq = r.output
            finals.append(r.h_n)
        return Outputs(np.asarray(seq), np.concatenate(finals))

    def gradients(self, problem: Problem, d_output: Any, d_h_n: Any) -> Any:
        raise NotImplementedError(f"{self.name}: {self.capabilities.reason('gradients')}")

    def with_options(self, **changes: Any) -> QuantizedGRU:
        """A fresh instance with some constructor arguments changed."""
        kw = {"granularity": self.granularity, "bug": self.bug, "hand_over": self.hand_over,
              "weight_shift": self.weight_shift, "shift_block": self.shift_block, **changes}  # fmt: skip
        return QuantizedGRU(**kw)


def _factory(bug: str | None, doc: str) -> Any:
    def make(device: str = "cpu", dtype: str = "float32") -> QuantizedGRU:
        if device != "cpu" or dtype != "float32":
            raise ValueError(f"the quantized GRU runs float32 on the cpu, not {dtype} on {device}")
        return QuantizedGRU(bug=bug)

    make.gruverify_adapter = True  # type: ignore[attr-defined]
    make.__doc__ = doc
    return make


correct_quantized_gru = _factory(None, "The correct quantized GRU, per tensor: a worked example "
                                 "(``gruverify check gruverify.zoo.quantized:correct_quantized_gru``).")  # fmt: skip
zero_point_off_by_one = _factory("zero_point", "The update gate's recurrent weights dequantized "
                                 "with a zero point off by one.")  # fmt: skip
stale_activation_scale = _factory("stale_scale", "The input projection's activation scale kept "
                                  "from the first call.")  # fmt: skip
