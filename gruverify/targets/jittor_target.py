"""Jittor ``jittor.nn.GRU`` (CPU, float32) as an ``Implementation``.

Jittor's GRU has torch's layout (``gruverify.layouts.jittor_layout``: ``weight_ih_l{k}`` ..., gates
r, z, n, all six biases), the reset-after variant and the canonical update. Without CUDA it runs
``RNNBase.execute``: Python loops over layers, directions and time steps of ``GRU.call_rnn_cell``,
each op JIT-compiled by Jittor's own C++ compiler on first use (g++; compiled kernels are cached
under ``~/.cache/jittor``). Features it has: ``num_layers``, ``bidirectional``, ``hx`` (None:
zeros), ``bias=False``, ``dropout`` between layers (Jittor's ``dropout`` function is called
without ``is_train``, so it never drops, in training either); gradients come from ``jittor.grad`` of
``sum(d_output * output) + sum(d_h_n * h_n)`` with respect to the input, the initial state and the
parameters.

Missing (jittor 1.3.11): ``lengths`` (``execute(input, hx)`` takes no lengths and Jittor has no
packed sequences), ``unbatched`` (the batch is read from the input's second axis) and
``batch_first``: the constructor takes it, but the output comes back time-major (a finding,
reproduced by ``tests/test_targets_jittor.py``); declared missing so that this one defect is
reported once, in the row's missing features, rather than failing every check that draws a
batch-first layout. The target runs time-major only. float32 only.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np

from gruverify.core.params import Variant
from gruverify.core.problem import Capabilities, Gradients, Outputs, Problem, split_leaf_gradients
from gruverify.layouts.jittor_layout import gru_from_jittor, gru_to_jittor
from gruverify.targets.errors import TargetError

__all__ = ["BATCH_FIRST_REASON", "JITTOR_ENV", "JITTOR_MISSING", "JittorGRUTarget"]

LENGTHS_REASON = (
    "jittor.nn.GRU.execute(input, hx) takes no sequence lengths and Jittor has no packed "
    "sequences (jittor 1.3.11)"
)
UNBATCHED_REASON = "jittor.nn.GRU takes 3-D input only (it reads the batch from the second axis)"
BATCH_FIRST_REASON = (
    "jittor.nn.GRU(batch_first=True) takes (batch, time, features) but returns its output "
    "time-major, (time, batch, D * H) (jittor 1.3.11: RNNBase.execute permutes the input and never "
    "the output; finding)"
)
JITTOR_MISSING = {
    "lengths": LENGTHS_REASON,
    "unbatched": UNBATCHED_REASON,
    "batch_first": BATCH_FIRST_REASON,
}
JITTOR_ENV = {"nvcc_path": "", "use_mkl": "0", "log_silent": "1"}
"""Set (unless the user set them) before jittor is imported: ``nvcc_path=""`` keeps it on the CPU
(with an ``nvcc`` on the PATH it builds for CUDA and fails without ``libcudart``; with none and an
NVIDIA driver it downloads a CUDA toolkit), ``use_mkl=0`` stops it downloading oneDNN from its
own server at import (no network: ``RuntimeError: <urlopen error ...>``; the GRU uses no oneDNN
op), ``log_silent=1`` silences its compiler log."""


class JittorGRUTarget:
    """``jittor.nn.GRU`` on the CPU (module docstring)."""

    variant: Variant = "reset_after"
    capabilities = Capabilities(JITTOR_MISSING)
    compile_seconds = 120.0
    """Jittor compiles each new op with g++ on first use (measured: see docs/library-targets.md):
    the checker's per-call limit does not go below this."""

    def __init__(
        self, *, dtype: str = "float32", device: str = "cpu", dropout: float = 0.0
    ) -> None:
        if dtype != "float32" or device != "cpu":
            raise TargetError(f"jittor runs float32 on the cpu here, not {dtype} on {device}")
        for key, value in JITTOR_ENV.items():  # read by jittor at import
            os.environ.setdefault(key, value)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import jittor
        except ImportError as e:
            raise TargetError(f"the jittor target needs jittor: {e}") from e
        except Exception as e:  # its C++ core is compiled at import: no compiler, no jittor
            raise TargetError(f"jittor cannot start: {type(e).__name__}: {e}") from e
        jittor.flags.use_cuda = 0
        self.jt = jittor
        self.dtype = dtype
        self.device = device
        self.dropout = dropout
        self.name = "jittor" + (f"[dropout={dropout}]" if dropout else "")
        self._modules: dict[tuple[Any, ...], Any] = {}
        self._loaded: dict[tuple[Any, ...], str] = {}

    def with_dropout(self, dropout: float) -> JittorGRUTarget:
        """The same target with modules built with ``dropout`` (for the eval-mode dropout law)."""
        return JittorGRUTarget(dtype=self.dtype, device=self.device, dropout=dropout)

    def _module(self, problem: Problem) -> Any:
        jt = self.jt
        p = problem.params
        key = (p.input_size, p.hidden_size, p.num_layers, p.bidirectional, p.bias,
               problem.batch_first)  # fmt: skip
        module = self._modules.get(key)
        if module is None:
            module = jt.nn.GRU(
                p.input_size, p.hidden_size, p.num_layers, bias=p.bias,
                batch_first=problem.batch_first, dropout=self.dropout,
                bidirectional=p.bidirectional,
            )  # fmt: skip
            self._modules[key] = module
        digest = p.digest()
        if self._loaded.get(key) != digest:
            values = gru_to_jittor(p)
            present = set(module.state_dict())
            if present != set(values):
                raise TargetError(
                    f"{self.name}: the module's state dict {sorted(present)} is not the layout's "
                    f"{sorted(values)}"
                )
            module.load_state_dict({k: v.astype(np.float32) for k, v in values.items()})
            self._loaded[key] = digest
        return module

    def _check(self, problem: Problem) -> None:
        if not problem.batched:
            raise ValueError(f"{self.name}: {UNBATCHED_REASON}")
        if problem.lengths is not None:
            raise ValueError(f"{self.name}: {LENGTHS_REASON}")
        if problem.batch_first:
            raise ValueError(f"{self.name}: {BATCH_FIRST_REASON}")
        p = problem.params
        h0 = problem.h0
        if h0 is not None and h0.shape[0] != p.num_layers * p.num_directions:
            raise ValueError(
                f"{self.name}: h0 has shape {tuple(h0.shape)}, expected "
                f"({p.num_layers * p.num_directions}, batch, {p.hidden_size})"
            )

    def _var(self, a: np.ndarray | None) -> Any:
        return None if a is None else self.jt.array(np.asarray(a, np.float32))

    # -- Implementation -----------------------------------------------------------------------

    def forward(self, problem: Problem) -> Outputs:
        self._check(problem)
        module = self._module(problem)
        module.eval()
        with self.jt.no_grad():
            out, h_n = module(self._var(problem.x), self._var(problem.h0))
            return Outputs(np.asarray(out.numpy(), np.float64), np.asarray(h_n.numpy(), np.float64))

    def gradients(
        self, problem: Problem, d_output: np.ndarray | None, d_h_n: np.ndarray | None
    ) -> Gradients:
        jt = self.jt
        self._check(problem)
        module = self._module(problem)
        module.train()
        try:
            x, h0 = self._var(problem.x), self._var(problem.h0)
            out, h_n = module(x, h0)
            loss = out.sum() * 0.0 + h_n.sum() * 0.0
            if d_output is not None:
                loss = loss + (out * self._var(d_output)).sum()
            if d_h_n is not None:
                loss = loss + (h_n * self._var(d_h_n)).sum()
            names = list(gru_to_jittor(problem.params))
            params = {k: getattr(module, k) for k in names}
            leaves = [x] + ([h0] if h0 is not None else []) + [params[k] for k in names]
            grads = jt.grad(loss, leaves)
        finally:
            module.eval()
        dx, dh0, rest = split_leaf_gradients(
            grads, leaves, h0 is not None, tuple(h_n.shape), _jt_np
        )
        return Gradients(dx, dh0, gru_from_jittor(dict(zip(names, rest, strict=True))))


def _jt_np(t: Any) -> np.ndarray:
    return np.asarray(t.numpy(), np.float64)
