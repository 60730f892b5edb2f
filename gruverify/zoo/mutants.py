"""Planted-bug GRUs: ``ZooGRU`` with one hook overridden, each mirroring a reported defect.

Every class has ``torch.nn.GRU``'s constructor, state-dict names and call signature, and computes the
correct GRU except for its one planted bug; its docstring names the tracker thread it mirrors (see
docs/real-bugs.md) and the condition under which the bug is visible. A conformance
checker that passes any of them is missing a check: ``gruverify check gruverify.zoo.mutants:NAME``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from gruverify.zoo.base import Gates, ZooGRU, flip_valid
from gruverify.zoo.scale import ChunkBoundaryState  # scale-only, in MUTANTS: caught by default

__all__ = [
    "AcceptsBadInitialState",
    "BackwardDropsUpdateGatePath",
    "BhnOutsideReset",
    "BiasAddedTwice",
    "ChunkBoundaryState",
    "BidirectionalInterleaved",
    "ClampedState",
    "DetachedFinalState",
    "DropoutInEval",
    "GateOrderZRN",
    "IgnoresInitialState",
    "LastLayerStateOnly",
    "MiddleLayerGradientScaled",
    "MutatesInput",
    "NoResetBias",
    "NoneIsNotZeros",
    "Nondeterministic",
    "OneMinusZHalfPrecision",
    "OneMinusZSign",
    "PerturbedWeightBlock",
    "RawStorageInput",
    "ResetBefore",
    "ReverseNotFlippedBack",
    "ReverseStartsInPadding",
    "SplitByInputSize",
    "StaleStateAcrossCalls",
    "StateNotCarried",
    "SwappedBiasesOnly",
    "SwappedWeightsOnly",
    "TransposedRecurrentKernel",
    "TruncatedBackward",
    "UnstableSigmoid",
    "UpdateConventionFlipped",
    "UpdateGateBiasOffset",
    "WrongAtBatch3",
]


def _swap_rz_weights(g: Gates) -> Gates:
    return g._replace(W_ir=g.W_iz, W_iz=g.W_ir, W_hr=g.W_hz, W_hz=g.W_hr)


def _swap_rz_biases(g: Gates) -> Gates:
    return g._replace(b_ir=g.b_iz, b_iz=g.b_ir, b_hr=g.b_hz, b_hz=g.b_hr)


# -- the wrong equations --------------------------------------------------------------------------


class ResetBefore(ZooGRU):
    """Reset-before computed where reset-after is expected: ``a_n = W_in x + b_in + W_hn (r h) + b_hn``.

    Mirrors pytorch/pytorch#189225 and microsoft/onnxscript#2852 (ONNX export with
    linear_before_reset=0), root-project/root#5367 (CPU reset-before, cuDNN reset-after).
    Visible whenever h != 0 (every sequence longer than one step, or a nonzero h0).
    """

    def candidate(self, x: Tensor, h: Tensor, r: Tensor, g: Gates) -> Tensor:
        return x @ g.W_in.T + g.b_in + (r * h) @ g.W_hn.T + g.b_hn


class BhnOutsideReset(ZooGRU):
    """``b_hn`` added outside the reset product: ``a_n = W_in x + b_in + r * (W_hn h) + b_hn``.

    Mirrors apple/coremltools#1124. Visible with a nonzero ``b_hn`` (bias=True).
    """

    def candidate(self, x: Tensor, h: Tensor, r: Tensor, g: Gates) -> Tensor:
        return x @ g.W_in.T + g.b_in + r * (h @ g.W_hn.T) + g.b_hn


class NoResetBias(ZooGRU):
    """``b_hn`` dropped: ``a_n = W_in x + b_in + r * (W_hn h)``.

    Mirrors google/flax#5594 (nnx GRUCell built its hidden dense layer without bias).
    Visible with a nonzero ``b_hn``.
    """

    def candidate(self, x: Tensor, h: Tensor, r: Tensor, g: Gates) -> Tensor:
        return x @ g.W_in.T + g.b_in + r * (h @ g.W_hn.T)


class BiasAddedTwice(ZooGRU):
    """The input bias ``b_ih`` added twice (every gate).

    Mirrors the suspected cause of tensorflow/tensorflow#54492 (TFLite GRU != PyTorch) and
    fastmachinelearning/hls4ml#594 (bias handling; its tests used zero biases). Visible with biases.
    """

    def gates(self, layer: int, direction: int) -> Gates:
        g = super().gates(layer, direction)
        return g._replace(b_ir=2 * g.b_ir, b_iz=2 * g.b_iz, b_in=2 * g.b_in)


class UpdateConventionFlipped(ZooGRU):
    """The update convention flipped: ``h' = z n + (1 - z) h`` instead of ``(1 - z) n + z h``.

    Andrew Ng's course and Chung et al. 2014 write ``c_t = G_u c~ + (1 - G_u) c_{t-1}``, i.e.
    ``G_u = 1 - z``; using that formula with torch's z (unconverted weights) gives this bug
    (docs/gru-math.md section 1).
    """

    def update(self, n: Tensor, z: Tensor, h: Tensor) -> Tensor:
        return z * n + (1 - z) * h


class OneMinusZSign(ZooGRU):
    """``(1 - z)`` computed as ``z - 1`` (a misused scalar op: ``torch.sub(z, 1)`` for ``rsub``).

    Mirrors alibaba/TinyNeuralNetwork#176 ((1 - z) computed wrong in a quantizable GRU).
    """

    def update(self, n: Tensor, z: Tensor, h: Tensor) -> Tensor:
        return torch.sub(z, 1) * n + z * h


class OneMinusZHalfPrecision(ZooGRU):
    """``(1 - z)`` computed in float16 (relative error ~2^-11 in the candidate's weight).

    A precision variant of alibaba/TinyNeuralNetwork#176: the scalar op runs in a lower dtype.
    Visible above the tolerance of float32 and float64 targets; not in a float16 target.
    """

    def update(self, n: Tensor, z: Tensor, h: Tensor) -> Tensor:
        return (1 - z.half()).to(z.dtype) * n + z * h


class ClampedState(ZooGRU):
    """The new state clamped to ``[-0.999, 0.999]`` (a saturating fixed-point state register).

    Not a reported bug but the signature of fixed-point or quantised GRUs (the setting of
    fastmachinelearning/hls4ml#594): exact on ordinary problems, wrong only in saturation, where
    ``|n| -> 1`` (large inputs or weights). Seen by forward checks on saturated problems.
    """

    bound = 0.999

    def update(self, n: Tensor, z: Tensor, h: Tensor) -> Tensor:
        return super().update(n, z, h).clamp(-self.bound, self.bound)


class UnstableSigmoid(ZooGRU):
    """``sigmoid(a) = exp(a) / (1 + exp(a))``: inf / inf = NaN once ``exp`` overflows.

    Mirrors pytorch/pytorch#94691 (NaN from a device GRU). Equal to the correct GRU to rounding
    for moderate pre-activations; NaN for ``a > 88.7`` in float32 (``> 709.8`` in float64). Seen by a
    finiteness check with large inputs.
    """

    def sigmoid(self, a: Tensor) -> Tensor:
        e = torch.exp(a)
        return e / (1 + e)


class PerturbedWeightBlock(ZooGRU):
    """A small defect: ``W_hz`` used with a relative error of 1e-3 (e.g. a lossy weight copy).

    Below a naive 1e-2 test tolerance; the error model's float32 tolerance catches 1e-4
    (docs/measurements.md).
    """

    rel = 1e-3

    def gates(self, layer: int, direction: int) -> Gates:
        g = super().gates(layer, direction)
        return g._replace(W_hz=g.W_hz * (1 + self.rel))


class UpdateGateBiasOffset(ZooGRU):
    """A small defect: the update gate's pre-activation off by 1e-2 (a stray bias of size 1e-2).

    As if a bias of 1e-2 were dropped or left over (a hard-coded initialiser constant). Only a
    derived tolerance separates this from rounding in float32 ... float16.
    """

    offset = 1e-2

    def gates(self, layer: int, direction: int) -> Gates:
        g = super().gates(layer, direction)
        return g._replace(b_hz=g.b_hz - self.offset)


# -- the wrong parameter layout -------------------------------------------------------------------


class GateOrderZRN(ZooGRU):
    """r and z swapped in weights and biases (the packed rows read as z, r, n).

    Mirrors keras-team/keras#8720, #15915 and openvinotoolkit/openvino#17651 (Keras gate order
    z, r, h applied to PyTorch's r, z, n).
    """

    def gates(self, layer: int, direction: int) -> Gates:
        return _swap_rz_biases(_swap_rz_weights(super().gates(layer, direction)))


class SwappedWeightsOnly(ZooGRU):
    """r and z swapped in the weights but not in the biases.

    Mirrors LBANN/lbann#1796 (biases reordered differently from weights).
    """

    def gates(self, layer: int, direction: int) -> Gates:
        return _swap_rz_weights(super().gates(layer, direction))


class SwappedBiasesOnly(ZooGRU):
    """r and z swapped in the biases only. Mirrors LBANN/lbann#1796. Visible with asymmetric biases."""

    def gates(self, layer: int, direction: int) -> Gates:
        return _swap_rz_biases(super().gates(layer, direction))


class TransposedRecurrentKernel(ZooGRU):
    """Every recurrent block used transposed: ``h @ W_h*`` instead of ``h @ W_h*^T``.

    The transposed-kernel confusion of keras-team/keras#8720 (Keras kernels are (in, out), torch
    weights (out, in)). Square, so no shape error: visible for any non-symmetric ``W_h*``.
    """

    def gates(self, layer: int, direction: int) -> Gates:
        g = super().gates(layer, direction)
        return g._replace(W_hr=g.W_hr.T, W_hz=g.W_hz.T, W_hn=g.W_hn.T)


class SplitByInputSize(ZooGRU):
    """Gate k of the input projection read from rows ``k * I ...`` instead of ``k * H ...``.

    Mirrors pytorch/pytorch#78945 (Vulkan GRU split weights by input size; its tests used
    I = H = 384). Exact when ``input_size == hidden_size``; visible only when they differ.
    """

    def gates(self, layer: int, direction: int) -> Gates:
        g = super().gates(layer, direction)
        H, I = self.hidden_size, self._layer_input_size(layer)
        sfx = self._suffix(layer, direction)
        w_ih: Tensor = getattr(self, f"weight_ih{sfx}")
        b_ih = torch.cat((g.b_ir, g.b_iz, g.b_in))
        rows = [(k * I + torch.arange(H)) % (3 * H) for k in range(3)]
        return g._replace(
            W_ir=w_ih[rows[0]], W_iz=w_ih[rows[1]], W_in=w_ih[rows[2]],
            b_ir=b_ih[rows[0]], b_iz=b_ih[rows[1]], b_in=b_ih[rows[2]],
        )  # fmt: skip


# -- the wrong state handling ---------------------------------------------------------------------


class IgnoresInitialState(ZooGRU):
    """``hx`` ignored: every call starts from zeros. Visible with a nonzero initial state."""

    def initial_state(self, hx: Tensor | None, batch: int, like: Tensor) -> Tensor:
        return super().initial_state(None, batch, like)


class NoneIsNotZeros(ZooGRU):
    """With ``hx=None`` the first step skips the hidden path, dropping ``b_hr``, ``b_hz``, ``r * b_hn``.

    Mirrors ml-explore/mlx#3249 (gru(x) != gru(x, zeros)). Visible with biases and ``hx=None``.
    """

    def cell(self, x: Tensor, h: Tensor, g: Gates, k: int) -> Tensor:
        if k > 0 or self._h0_given:
            return super().cell(x, h, g, k)
        z = self.sigmoid(x @ g.W_iz.T + g.b_iz)
        return (1 - z) * torch.tanh(x @ g.W_in.T + g.b_in)


class StateNotCarried(ZooGRU):
    """``h_{t-1}`` never fed back: every step starts from the initial state.

    Mirrors tracel-ai/burn#2701 (only step 0 matched PyTorch; its tests used seq_len 1).
    Visible for sequences longer than one step.
    """

    def recurrent_state(self, h: Tensor, h0: Tensor) -> Tensor:
        return h0


class WrongAtBatch3(ZooGRU):
    """With ``hx=None`` and batch >= 3, rows 2.. of the initial state come from an uncleared buffer.

    Mirrors microsoft/onnxruntime#3797 and #3893 (wrong output at batch >= 3 without initial_h:
    a scratch buffer not allocated or not cleared). The stale contents are 0.5.
    """

    def initial_state(self, hx: Tensor | None, batch: int, like: Tensor) -> Tensor:
        h0 = super().initial_state(hx, batch, like)
        if hx is None and batch >= 3:
            h0 = h0.clone()
            h0[:, 2:] = 0.5
        return h0


class StaleStateAcrossCalls(ZooGRU):
    """With ``hx=None`` a call starts from the previous call's final state (a stale state buffer).

    Mirrors pytorch/pytorch#1532 (saved buffers reused across calls) and keras-team/keras#23462
    (stateful state kept across calls). The first call is correct; repeated calls differ.
    """

    _stale: Tensor | None = None

    def initial_state(self, hx: Tensor | None, batch: int, like: Tensor) -> Tensor:
        stale = self._stale
        if hx is None and stale is not None and stale.shape[1] == batch:
            return stale.to(like.dtype)
        return super().initial_state(hx, batch, like)

    def forward(self, input: Any, hx: Tensor | None = None) -> tuple[Any, Tensor]:
        output, h_n = super().forward(input, hx)
        self._stale = (h_n if h_n.dim() == 3 else h_n[:, None]).detach()
        return output, h_n


class MutatesInput(ZooGRU):
    """The caller's input is overwritten in place (an in-place activation on a shared buffer).

    Mirrors microsoft/onnxruntime#16862 (in-place activation) and keras-team/keras#23462 (in-place
    update of a saved tensor). Outputs of the call are correct; the input afterwards is tanh(input),
    and autograd does not see the change (``.data``), so the call's ``W_i*`` gradients, which read
    the saved input, are wrong too. Seen by an input-unchanged check or a repeated call.
    """

    def forward(self, input: Any, hx: Tensor | None = None) -> tuple[Any, Tensor]:
        result = super().forward(input, hx)
        input.data.data.tanh_()
        return result


class AcceptsBadInitialState(ZooGRU):
    """A wrong-shaped ``hx`` silently broadcast (e.g. ``(1, B, H)`` for two layers) instead of raising.

    Mirrors pytorch/pytorch#3259 and #4002 (wrong-shaped h0 silently accepted on CPU).
    """

    def validate_hidden(self, hx: Tensor, want: tuple[int, ...]) -> Tensor:
        try:
            return hx.expand(want)
        except RuntimeError:
            return super().validate_hidden(hx, want)


class LastLayerStateOnly(ZooGRU):
    """``h_n`` holds the last layer's state only: ``(D, B, H)`` instead of ``(L * D, B, H)``.

    Mirrors keras-team/keras#20173 and tensorflow/tensorflow#74475 (returned state has the wrong
    shape). Visible with two or more layers.
    """

    def finish(self, output: Tensor, h_n: Tensor) -> tuple[Tensor, Tensor]:
        return output, h_n[-self.num_directions :]


# -- the wrong directions and padding -------------------------------------------------------------


class ReverseNotFlippedBack(ZooGRU):
    """The reverse direction's outputs left in processing order (not flipped back), in every layer.

    Mirrors onnx/onnx#7935 (the reference ignored the direction). ``h_n`` stays correct; the
    reverse half of the output is reversed in time. Visible with bidirectional=True.
    """

    def direction_output(self, out: Tensor, direction: int, lengths: Tensor | None) -> Tensor:
        return flip_valid(out, lengths) if direction == 1 else out


class BidirectionalInterleaved(ZooGRU):
    """Bidirectional output laid out ``[T, B, H, dirs]`` (interleaved) instead of ``[fwd | rev]``.

    Mirrors pytorch/pytorch#10838 (a wrong permute; round-trip tests hid it). Visible with
    bidirectional=True.
    """

    def final_output(self, seq: Tensor) -> Tensor:
        T, B, DH = seq.shape
        D = self.num_directions
        return seq.reshape(T, B, D, DH // D).transpose(2, 3).reshape(T, B, DH)


class ReverseStartsInPadding(ZooGRU):
    """With a ``PackedSequence``, the reverse direction ignores the lengths and starts at ``T - 1``.

    Mirrors onnx/onnx-tensorflow#342 and keras-team/keras#17596 (reverse pass starts inside the
    padding). Visible with bidirectional=True and unequal lengths.
    """

    def step_mask(self, t: int, lengths: Tensor | None, direction: int) -> Tensor | None:
        return None if direction == 1 else super().step_mask(t, lengths, direction)


# -- the wrong gradients (forward exact) ----------------------------------------------------------


class _NoGradient(torch.autograd.Function):
    """Identity forward, zero backward."""

    @staticmethod
    def forward(ctx: Any, a: Tensor) -> Tensor:
        return a.view_as(a)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return torch.zeros_like(grad)


class _ScaledGradient(torch.autograd.Function):
    """Identity forward, backward scaled by a constant."""

    @staticmethod
    def forward(ctx: Any, a: Tensor, scale: float) -> Tensor:
        ctx.scale = scale
        return a.view_as(a)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        return grad * ctx.scale, None


class BackwardDropsUpdateGatePath(ZooGRU):
    """The backward pass drops ``dz/dh_{t-1}``: ``h`` enters ``a_z`` through a zero-gradient op.

    Mirrors microsoft/onnxruntime#16862 (a gradient kernel fed wrong saved activations). The forward
    is exact; ``dx``, ``dh0`` and every parameter gradient except ``W_hz``'s own are wrong.
    """

    def cell(self, x: Tensor, h: Tensor, g: Gates, k: int) -> Tensor:
        r = self.sigmoid(x @ g.W_ir.T + g.b_ir + h @ g.W_hr.T + g.b_hr)
        z = self.sigmoid(x @ g.W_iz.T + g.b_iz + _NoGradient.apply(h) @ g.W_hz.T + g.b_hz)
        return self.update(torch.tanh(self.candidate(x, h, r, g)), z, h)


class DetachedFinalState(ZooGRU):
    """``h_n`` returned detached: no gradient flows from a loss on the final state.

    Mirrors pytorch/pytorch#94691, #102911, #96416 (backward fails when only h_n gets a gradient).
    Forward exact; seen by a gradient check with a nonzero cotangent on ``h_n``.
    """

    def finish(self, output: Tensor, h_n: Tensor) -> tuple[Tensor, Tensor]:
        return output, h_n.detach()


class TruncatedBackward(ZooGRU):
    """The state is detached every ``every`` = 16 steps: truncated backpropagation through time
    hidden inside the module (exact forward, a cut backward).

    Mirrors a class rather than one report (docs/real-bugs.md, "The patterns"): the chunking and
    checkpointing bugs of custom backward passes (a fused kernel whose backward restarts per time
    tile; ``h = h.detach()`` left in a module from TBPTT training). ``dx_t`` for ``t`` before the last cut and ``dh0`` lose every path that
    crosses a cut: seen only by a gradient check past 16 steps whose loss looks back across one.
    """

    every = 16

    def cell(self, x: Tensor, h: Tensor, g: Gates, k: int) -> Tensor:
        return super().cell(x, h.detach() if k and k % self.every == 0 else h, g, k)


class MiddleLayerGradientScaled(ZooGRU):
    """With three or more layers, every parameter gradient of layer 1 is halved.

    Mirrors apache/mxnet#17898 and #17818 (wrong weight/bias gradients for middle layers, >= 3
    layers, from pointer offsets). Forward exact; seen by a per-layer gradient check.
    """

    def gates(self, layer: int, direction: int) -> Gates:
        g = super().gates(layer, direction)
        if self.num_layers >= 3 and layer == 1:
            return Gates(*(_ScaledGradient.apply(t, 0.5) for t in g))
        return g


# -- memory layout ---------------------------------------------------------------------------------


def _contiguous_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    out, step = [], 1
    for n in reversed(shape):
        out.append(step)
        step *= n
    return tuple(reversed(out))


class RawStorageInput(ZooGRU):
    """The input read from its storage as if it were contiguous from the storage's start:
    ``x.as_strided(x.shape, contiguous_strides, 0)``, what a kernel that takes ``x.data_ptr()``
    of the storage (or ``torch.from_numpy`` of a raw buffer) and ignores strides and offset does.

    Mirrors a class rather than one report (docs/real-bugs.md, "The patterns"): custom C++/CUDA
    extensions and exporters that read raw pointers.
    Exact on fresh contiguous tensors, the only ones a checker that copies its inputs feeds;
    wrong on a transposed view, a slice with a storage offset or rows of a wider buffer.
    """

    def forward(self, input: Any, hx: Tensor | None = None) -> tuple[Any, Tensor]:
        if isinstance(input, Tensor):
            input = input.as_strided(input.shape, _contiguous_strides(tuple(input.shape)), 0)
        return super().forward(input, hx)


# -- dropout in eval mode --------------------------------------------------------------------------


class DropoutInEval(ZooGRU):
    """Dropout between layers applied in eval mode too: ``F.dropout(x, p)`` without
    ``training=self.training`` (the functional form defaults to ``training=True``).

    Mirrors espnet/espnet#3539 (``F.dropout`` with ``training=True`` stays random after
    ``.eval()``) and espnet/espnet#1784 (an RNN stack of one-layer modules with ``F.dropout``
    between layers). Exact with ``dropout=0``; random in eval mode with ``dropout > 0`` and two or
    more layers. Seen by the eval-mode dropout law (``dropout=0.5`` against ``dropout=0``).
    """

    def forward(self, input: Any, hx: Tensor | None = None) -> tuple[Any, Tensor]:
        training = self.training
        self.training = True  # what F.dropout's default does to the layer stack
        try:
            with torch.random.fork_rng(devices=[]):
                return super().forward(input, hx)
        finally:
            self.training = training


# -- nondeterminism -------------------------------------------------------------------------------


class Nondeterministic(ZooGRU):
    """Outputs jittered by a relative 1e-6 (fresh noise each call, a racing reduction's signature).

    Mirrors tensorflow/tensorflow#60192 and #59281 (nondeterministic cuDNN GRU outputs). Near the
    float32 tolerance, so a forward check may miss it; a repeat-run determinism check sees it.
    The noise comes from the module's own generator (seeded at construction), so runs of a test
    are reproducible while repeated calls differ.
    """

    noise = 1e-6
    _generator: torch.Generator | None = None

    def finish(self, output: Tensor, h_n: Tensor) -> tuple[Tensor, Tensor]:
        if self._generator is None:
            self._generator = torch.Generator().manual_seed(1234)
        jitter = torch.randn(output.shape, generator=self._generator, dtype=torch.float64)
        return output * (1 + self.noise * jitter.to(output.device, output.dtype)), h_n
