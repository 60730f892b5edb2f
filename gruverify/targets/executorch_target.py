"""``torch.nn.GRU`` -> ``torch.export`` -> ExecuTorch (XNNPACK partitioner), run by ExecuTorch's runtime.

The conversion path of an on-device GRU: the drawn weights are loaded into an ``nn.GRU``
(``gruverify.layouts.torch_layout``: gates r, z, n, reset-after), the module is exported with
``torch.export.export`` and lowered with ``executorch.exir.to_edge_transform_and_lower`` and the
``XnnpackPartitioner`` (the XNNPACK delegate takes the GRU's ``addmm``/``sigmoid``/``tanh``/
``mul``/``add`` ops; the rest runs on ExecuTorch's portable kernels), serialised with
``to_executorch()`` and run from its buffer by ``executorch.runtime.Runtime`` (the python
bindings of the C++ runtime), float32 on the CPU.

Measured (executorch 1.5.1, torch 2.13.0+cpu, 2 busy cores):

* ``torch.export`` unrolls an ``nn.GRU`` over the example's length (its time axis is always
  specialised, and ``to_executorch`` refuses a dynamic batch: "_ViewSpec is incompatible with its
  base on creation. It has shape_dynamism=0, but its base has shape_dynamism=1"), and lowering
  one program takes ~10 s with XNNPACK (one step of a 2-layer GRU; 4.5 s on the portable kernels
  alone, ~1 s more per unrolled step and layer). One program per drawn length and configuration
  would be ~80 lowerings for a quick run. So the program is the *streaming*
  form an on-device GRU is deployed in: the GRU exported for **one time step** with its state an
  input and an output, run once per step with ``h_n`` fed back as the next ``h0``, the weights
  inputs of the program (``torch.func.functional_call``) so that one lowering serves every weight
  set of a configuration: one lowering per (input size, hidden size, layers, bias, batch), cached
  (``_MAX_PROGRAMS``). This is exact for a unidirectional stack (step ``t`` of layer ``l`` needs
  only step ``t`` of layer ``l - 1`` and its own state), and ``h0=None`` is zeros (what
  ``nn.GRU`` computes), passed as such.
* ``bidirectional``: a one-step program cannot run a reverse direction (it needs the whole
  sequence); declared missing. ``lengths``: the streaming program has no ``PackedSequence``
  (``torch.export`` cannot trace one, see ``torch-export``); declared missing. No gradients (an
  inference runtime), no ``dropout``, no unbatched input (the program's shapes are batched).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import time
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from gruverify.core.params import GRUParams, Variant
from gruverify.core.problem import Capabilities, Gradients, Outputs, Problem
from gruverify.layouts.torch_layout import gru_to_torch
from gruverify.targets.errors import TargetError
from gruverify.targets.recent import Recent

__all__ = ["EXECUTORCH_MISSING", "ExecuTorchGRUTarget"]

EXECUTORCH_MISSING = {
    "bidirectional": (
        "the ExecuTorch program is the GRU's one-step streaming form (torch.export unrolls an "
        "nn.GRU over the example's length, ~1 s of lowering per step): a reverse direction needs "
        "the whole sequence"
    ),
    "lengths": "torch.export cannot trace nn.GRU on a PackedSequence (see torch-export)",
    "gradients": "the ExecuTorch runtime runs inference only (no gradients)",
    "unbatched": "the program is exported with a batch axis",
    "dropout": "an exported inference program has no dropout",
}
_MAX_PROGRAMS = 32
FIXED_SHAPE = dict(input_size=3, hidden_size=4, num_layers=2, bias=True)
"""The configuration of the target's fixed weights (``fixed_params``)."""


def fixed_weights() -> GRUParams:
    """The weights every check runs with: an ``nn.GRU`` of ``FIXED_SHAPE`` as torch initialises
    it from seed 0 (the global generator is left alone)."""
    import torch

    from gruverify.layouts.torch_layout import gru_from_torch, torch_state_dict

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        gru = torch.nn.GRU(**FIXED_SHAPE)
    return gru_from_torch(torch_state_dict(gru))


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the lowering's warnings and the runtime's C++ log lines on stderr (cpuinfo)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fd = os.dup(2)
        except OSError:  # no file descriptor 2
            yield
            return
        try:
            with open(os.devnull, "w") as null:
                os.dup2(null.fileno(), 2)
                with contextlib.redirect_stderr(io.StringIO()):
                    yield
        finally:
            os.dup2(fd, 2)
            os.close(fd)


@dataclasses.dataclass(frozen=True)
class _Loaded:
    """A lowered program as the runtime holds it: its bytes, the loaded program, its method."""

    buffer: bytes
    program: Any
    method: Any


def _import() -> tuple[Any, Any, Any]:
    try:
        with _quiet():
            from executorch.backends.xnnpack.partition.xnnpack_partitioner import (
                XnnpackPartitioner,
            )
            from executorch.exir import to_edge_transform_and_lower
            from executorch.runtime import Runtime
    except ImportError as e:
        raise TargetError(
            "the executorch target needs executorch (pip install executorch==1.5.1 with "
            f"torch 2.13.0; scripts/library_envs.sh builds .venv-executorch): {e}"
        ) from None
    return to_edge_transform_and_lower, XnnpackPartitioner, Runtime


class ExecuTorchGRUTarget:
    """``nn.GRU`` lowered to ExecuTorch with XNNPACK, run one step at a time (module docstring)."""

    variant: Variant = "reset_after"
    capabilities = Capabilities(EXECUTORCH_MISSING)

    def __init__(self, *, dtype: str = "float32", device: str = "cpu") -> None:
        if dtype != "float32":
            raise TargetError(f"executorch runs float32 here, not {dtype!r}")
        if device != "cpu":
            raise TargetError(f"executorch runs on the cpu here, not {device!r}")
        self._lower, self._partitioner, runtime = _import()
        with _quiet():
            self._runtime = runtime.get()
        self.dtype = dtype
        self.device = device
        self.name = "executorch"
        self._programs: Recent[_Loaded] = Recent(_MAX_PROGRAMS)
        self.lowerings = 0
        """How many programs were lowered (one per configuration and batch)."""
        self.fixed_params = fixed_weights()
        """One configuration for every check (``gruverify.conformance.cases.pin_fixed``): each
        new configuration is a lowering of ~10 s, and a quick run draws ~80 of them."""
        self.fixed_by = "weights fixed by the executorch target (one lowering per configuration)"
        self.compile_seconds = 120.0
        """A call that lowers a program may take this long (the first lowering imports and
        registers XNNPACK's passes: up to a minute on 2 busy cores)."""

    def _program(self, params: GRUParams, batch: int) -> _Loaded:
        """The loaded ``forward`` method of the one-step program of ``params``' configuration."""
        key = (params.input_size, params.hidden_size, params.num_layers, params.bias, batch)
        return self._programs.get(key, lambda: self._build(params, batch))

    def _build(self, params: GRUParams, batch: int) -> _Loaded:
        import torch

        gru = torch.nn.GRU(
            params.input_size, params.hidden_size, num_layers=params.num_layers, bias=params.bias
        ).eval()
        names = [n for n, _ in gru.named_parameters()]

        class Step(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.gru = gru

            def forward(self, x: Any, h: Any, *weights: Any) -> Any:
                return torch.func.functional_call(
                    self.gru, dict(zip(names, weights, strict=True)), (x, h)
                )

        x = torch.zeros(1, batch, params.input_size)
        h = torch.zeros(params.num_layers, batch, params.hidden_size)
        weights = [p.detach() for p in gru.parameters()]
        try:
            with _quiet():
                exported = torch.export.export(Step(), (x, h, *weights))
                lowered = self._lower(exported, partitioner=[self._partitioner()])
                buffer = lowered.to_executorch().buffer
                program = self._runtime.load_program(buffer)
                method = program.load_method("forward")
            if os.environ.get("GRUVERIFY_EXECUTORCH_TRACE"):
                with open(os.environ["GRUVERIFY_EXECUTORCH_TRACE"], "a") as trace:
                    print(f"{time.time():.1f} lowered {key_of(params)} batch {batch}", file=trace)
        except Exception as e:
            detail = f"{type(e).__name__}: {e}".splitlines()[0]
            raise TargetError(
                f"executorch could not lower nn.GRU ({key_of(params)}): {detail}"
            ) from None
        self.lowerings += 1
        # a method keeps neither its program nor the buffer alive (the program keeps the buffer):
        # with both collected, execute reads freed memory ("Invalid number of inputs provided.
        # Expected 0, but got 10", then a segmentation fault); keep all three
        return _Loaded(buffer, program, method)

    def forward(self, problem: Problem) -> Outputs:
        import torch

        p = problem.params
        if p.bidirectional or problem.lengths is not None or not problem.batched:
            raise ValueError(f"{self.name}: one direction, padded, batched input only")
        x = np.asarray(problem.x, np.float32)
        if problem.batch_first:
            x = np.swapaxes(x, 0, 1)
        T, B = x.shape[0], x.shape[1]
        want = (p.num_layers, B, p.hidden_size)
        if problem.h0 is not None and tuple(np.shape(problem.h0)) != want:
            raise ValueError(f"{self.name}: h0 has shape {np.shape(problem.h0)}, expected {want}")
        h0 = np.zeros(want, np.float32) if problem.h0 is None else problem.h0
        method = self._program(p, B).method
        state = gru_to_torch(p, as_torch=True, dtype=torch.float32)
        weights = [state[n].contiguous() for n in _names(p)]
        h = torch.tensor(np.asarray(h0, np.float32))
        steps = []
        with _quiet():
            for t in range(T):
                out, h_t = method.execute([torch.tensor(x[t : t + 1]), h, *weights])
                # the outputs live in the program's planned memory, which the next call reuses
                steps.append(np.array(out, np.float64))
                h = h_t.clone()
        output = np.concatenate(steps) if steps else np.zeros((0, B, p.hidden_size))
        if problem.batch_first:
            output = np.swapaxes(output, 0, 1)
        return Outputs(output, np.asarray(h, np.float64))

    def gradients(
        self, problem: Problem, d_output: np.ndarray | None, d_h_n: np.ndarray | None
    ) -> Gradients:
        raise NotImplementedError(EXECUTORCH_MISSING["gradients"])


def key_of(params: GRUParams) -> str:
    return (
        f"input {params.input_size}, hidden {params.hidden_size}, {params.num_layers} layer(s), "
        f"bias={params.bias}"
    )


def _names(params: GRUParams) -> list[str]:
    """``nn.GRU``'s parameter names in its ``named_parameters`` order (one direction)."""
    per = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if params.bias else [])
    return [f"{n}_l{layer}" for layer in range(params.num_layers) for n in per]
