"""MindSpore ``mindspore.nn.GRU`` (CPU, graph mode, float32) as an ``Implementation``.

MindSpore's GRU has torch's layout (``gruverify.layouts.mindspore_layout``: ``weight_ih_l{k}``
..., gates r, z, n, all six biases), the reset-after variant and the canonical update. On the CPU
it runs ``rnn_cells._gru_cell`` step by step (``_DynamicRNNBase``); every feature is MindSpore's
own: ``num_layers``, ``bidirectional``, ``batch_first``, ``seq_length`` for lengths (padded steps
give zeros, the state stops at each sequence's end; the reverse direction runs on
``ReverseSequence``), ``hx`` (None: zeros), ``has_bias=False``, ``dropout`` between layers (off
after ``set_train(False)``). One cell per configuration serves every problem of it; weights are
written with ``Parameter.set_data`` when they change. Gradients come from ``mindspore.grad`` of
``sum(d_output * output) + sum(d_h_n * h_n)`` with respect to the input, the initial state and the
parameters (one gradient function per cell, call shape and weight set: see ``_grad_fn``).

The target sets MindSpore's ``GRAPH_MODE`` (process-wide): the cell is compiled per input shape
(~5 s on 2 busy cores) and then runs in ~35 ms, where PyNative mode took ~10 s per call of a
two-layer bidirectional GRU over 8 steps (each step's old-style primitives dispatched one by one,
~0.24 s each). The kernels, and so the numbers, are the same CPU kernels in both modes.

Missing: ``unbatched`` (the cell reads the batch from the input's second axis: 3-D input only).
float32 only (``float16`` is MindSpore's other GRU dtype).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from gruverify.core.params import Variant
from gruverify.core.problem import Capabilities, Gradients, Outputs, Problem, split_leaf_gradients
from gruverify.layouts.mindspore_layout import gru_from_mindspore, gru_to_mindspore
from gruverify.targets.errors import TargetError

__all__ = ["MINDSPORE_MISSING", "MindSporeGRUTarget"]

UNBATCHED_REASON = (
    "mindspore.nn.GRU takes 3-D input only (it reads the batch size from the input's second axis)"
)
MINDSPORE_MISSING = {"unbatched": UNBATCHED_REASON}


class MindSporeGRUTarget:
    """``mindspore.nn.GRU`` on the CPU (module docstring)."""

    variant: Variant = "reset_after"
    capabilities = Capabilities(MINDSPORE_MISSING)
    compile_seconds = 60.0
    """Graph mode compiles per input shape (forward ~5 s, gradients ~15 s on 2 busy cores): the
    checker's per-call limit does not go below this."""

    def __init__(
        self, *, dtype: str = "float32", device: str = "cpu", dropout: float = 0.0
    ) -> None:
        if dtype != "float32" or device != "cpu":
            raise TargetError(f"mindspore runs float32 on the cpu here, not {dtype} on {device}")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import mindspore
        except ImportError as e:
            raise TargetError(f"the mindspore target needs mindspore: {e}") from e
        mindspore.set_device("CPU")
        mindspore.set_context(mode=mindspore.GRAPH_MODE)  # see the module docstring
        self.ms = mindspore
        self.dtype = dtype
        self.device = device
        self.dropout = dropout
        self.name = "mindspore" + (f"[dropout={dropout}]" if dropout else "")
        self._cells: dict[tuple[Any, ...], Any] = {}
        self._loaded: dict[tuple[Any, ...], str] = {}
        self._grad_fns: dict[tuple[Any, ...], Any] = {}

    def with_dropout(self, dropout: float) -> MindSporeGRUTarget:
        """The same target with cells built with ``dropout`` (for the eval-mode dropout law)."""
        return MindSporeGRUTarget(dtype=self.dtype, device=self.device, dropout=dropout)

    def _cell(self, problem: Problem) -> Any:
        ms = self.ms
        p = problem.params
        key = (p.input_size, p.hidden_size, p.num_layers, p.bidirectional, p.bias,
               problem.batch_first)  # fmt: skip
        cell = self._cells.get(key)
        if cell is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cell = ms.nn.GRU(
                    p.input_size, p.hidden_size, p.num_layers, has_bias=p.bias,
                    batch_first=problem.batch_first, dropout=self.dropout,
                    bidirectional=p.bidirectional,
                )  # fmt: skip
            self._cells[key] = cell
        digest = p.digest()
        if self._loaded.get(key) != digest:
            values = gru_to_mindspore(p)
            params = {q.name.rsplit(".", 1)[-1]: q for q in cell.get_parameters()}
            if set(params) != set(values):
                raise TargetError(
                    f"{self.name}: the cell's parameters {sorted(params)} are not the layout's "
                    f"{sorted(values)}"
                )
            for name, value in values.items():
                params[name].set_data(ms.Tensor(value.astype(np.float32)))
            self._loaded[key] = digest
        return cell

    def _tensor(self, a: np.ndarray | None) -> Any:
        return None if a is None else self.ms.Tensor(np.asarray(a, np.float32))

    def _check(self, problem: Problem) -> None:
        if not problem.batched:
            raise ValueError(f"{self.name}: {UNBATCHED_REASON}")
        p = problem.params
        h0 = problem.h0
        if h0 is not None and h0.shape[0] != p.num_layers * p.num_directions:
            raise ValueError(
                f"{self.name}: h0 has shape {tuple(h0.shape)}, expected "
                f"({p.num_layers * p.num_directions}, batch, {p.hidden_size})"
            )

    def _lengths(self, problem: Problem) -> Any:
        if problem.lengths is None:
            return None
        return self.ms.Tensor(np.asarray(problem.lengths, np.int32))

    # -- Implementation -----------------------------------------------------------------------

    def forward(self, problem: Problem) -> Outputs:
        self._check(problem)
        cell = self._cell(problem)
        cell.set_train(False)
        out, h_n = cell(self._tensor(problem.x), self._tensor(problem.h0), self._lengths(problem))
        return Outputs(np.asarray(out.asnumpy(), np.float64), np.asarray(h_n.asnumpy(), np.float64))

    def gradients(
        self, problem: Problem, d_output: np.ndarray | None, d_h_n: np.ndarray | None
    ) -> Gradients:
        self._check(problem)
        cell = self._cell(problem)
        p = problem.params
        h0_given, lengths_given = problem.h0 is not None, problem.lengths is not None
        batch = int(np.shape(problem.x)[0 if problem.batch_first else 1])
        h_n_shape = (p.num_layers * p.num_directions, batch, p.hidden_size)
        out_shape = (*np.shape(problem.x)[:2], p.num_directions * p.hidden_size)
        weights = list(cell.trainable_params())
        names = [q.name.rsplit(".", 1)[-1] for q in weights]
        grad_fn = self._grad_fn(cell, h0_given, lengths_given, weights, p.digest())
        args = [self._tensor(problem.x)] + ([self._tensor(problem.h0)] if h0_given else [])
        if lengths_given:
            args.append(self._lengths(problem))
        args.append(self._tensor(np.zeros(out_shape) if d_output is None else d_output))
        args.append(self._tensor(np.zeros(h_n_shape) if d_h_n is None else d_h_n))
        cell.set_train(True)
        try:
            grads_in, grads_w = grad_fn(*args)
        finally:
            cell.set_train(False)
        if not isinstance(grads_in, tuple):
            grads_in = (grads_in,)
        leaves = args[: 2 if h0_given else 1] + weights
        dx, dh0, rest = split_leaf_gradients(
            list(grads_in) + list(grads_w), leaves, h0_given, h_n_shape, _ms_np
        )
        return Gradients(dx, dh0, gru_from_mindspore(dict(zip(names, rest, strict=True))))

    def _grad_fn(
        self, cell: Any, h0_given: bool, lengths_given: bool, weights: list[Any], digest: str
    ) -> Any:
        """``mindspore.grad`` of ``sum(d_out * output) + sum(d_h_n * h_n)`` for one cell, call
        shape and weight set. Made anew for every weight set: a gradient function of
        ``mindspore.nn.GRU`` made once kept returning the gradients of the weights of its first
        call after ``set_data`` wrote new ones (measured, mindspore 2.10.0, graph mode, a closure
        or a ``Cell`` alike; the forward sees the new weights, and a fresh gradient function gives
        the right gradients; a ``Dense`` layer does not show it), so gradients cost a compilation
        per weight set."""
        key = (id(cell), h0_given, lengths_given)
        cached = self._grad_fns.get(key)
        if cached is None or cached[0] != digest:
            loss = _loss_cell(self.ms, cell, h0_given, lengths_given)
            positions = (0, 1) if h0_given else (0,)
            cached = (digest, self.ms.grad(loss, grad_position=positions, weights=weights), loss)
            self._grad_fns[key] = cached
        return cached[1]


def _loss_cell(ms: Any, gru: Any, h0_given: bool, lengths_given: bool) -> Any:
    """A ``Cell`` computing ``sum(d_out * output) + sum(d_h_n * h_n)`` of ``gru`` from
    ``(x, [h0], [lengths], d_out, d_h_n)``."""

    class Loss(ms.nn.Cell):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.gru = gru

        def construct(self, x: Any, *rest: Any) -> Any:
            h0 = rest[0] if h0_given else None
            lengths = rest[1 if h0_given else 0] if lengths_given else None
            out, h_n = self.gru(x, h0, lengths)
            return (out * rest[-2]).sum() + (h_n * rest[-1]).sum()

    return Loss()


def _ms_np(t: Any) -> np.ndarray:
    return np.asarray(t.asnumpy(), np.float64)
