"""``torch.nn.GRU`` through torch's graph compilers: ``torch.export`` and ``torch.compile``.

Two targets whose GRU is torch's own (layout: ``gruverify.layouts.torch_layout``, gates r, z, n,
reset-after, ``h' = (1 - z) * n + z * h``, all six biases) but whose *code* is what a graph
compiler made of it:

* ``torch-export``: ``torch.export.export(nn.GRU)`` then ``run_decompositions()`` (core ATen:
  ``aten.gru`` becomes ``addmm``, ``sigmoid``, ``tanh``, ``mul``, ``add`` ... one copy per time
  step), run as the exported program (``ExportedProgram.module()``).
* ``torch-compile``: ``torch.compile(nn.GRU, fullgraph=True)`` with inductor and
  ``torch._dynamo.config.allow_rnn = True`` (without it dynamo graph-breaks on every RNN module and
  the GRU runs eagerly: the compiled code would never be tested).

Each is a module class with ``torch.nn.GRU``'s constructor and state-dict names (the parameters are
the module's own), so ``TorchModuleTarget`` drives it like any ``nn.GRU``-shaped class: weights are
loaded once per configuration and passed to the compiled code as inputs (``torch.func.
functional_call`` for the exported program; the compiled module shares the parameters), gradients
come from autograd through the compiled code.

Measured (torch 2.13.0 CPU):

* Both specialise the sequence length: the decomposition unrolls the time loop (export: "You marked
  T as dynamic but your code specialized it to be a constant"). So export runs once per
  (configuration, T, h0 given, train/eval), with a dynamic batch axis (exported at batch 2), about
  2 s to export plus 2 s to decompose on 2 cores; compile recompiles per T (1 to 3 s each after a
  ~30 s first compilation). The recompile limit is raised for these calls and
  ``fail_on_recompile_limit_hit`` is set, so a cache that fills up raises instead of running
  eagerly.
* ``lengths``: neither traces ``pack_padded_sequence`` -> ``nn.GRU(PackedSequence)``: export
  fails in ``nn.GRU.forward`` (``torch.zeros(..., batch_sizes[0], ...)`` gets a FakeTensor; with an
  initial state, ``GuardOnDataDependentSymNode``), and the packed path is data-dependent for
  dynamo. Declared missing.
* Proof that compiled code runs (no silent fall back to eager): ``fullgraph=True`` turns any graph
  break into an error; the inductor backend is wrapped so that every call of the compiled graph is
  counted, and a forward whose call did not go through it raises; each compilation must generate
  kernels (``torch._inductor.metrics.generated_kernel_count`` grows). ``CompiledGRU.compiled_runs``
  and ``CompiledGRU.compilations`` show the counts.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

import torch

from gruverify.core.problem import Implementation
from gruverify.targets.errors import TargetError
from gruverify.targets.torch_module import TorchModuleTarget

__all__ = [
    "LENGTHS_REASON_COMPILE",
    "LENGTHS_REASON_EXPORT",
    "CompiledGRU",
    "ExportedGRU",
    "FallbackToEager",
    "make_torch_compile_target",
    "make_torch_export_target",
]

LENGTHS_REASON_EXPORT = (
    "torch.export cannot trace nn.GRU on a PackedSequence (torch 2.13: torch.zeros with a "
    "FakeTensor size for h0=None, GuardOnDataDependentSymNode with h0): the exported program "
    "takes padded input only"
)
LENGTHS_REASON_COMPILE = (
    "torch.compile(fullgraph=True) cannot capture nn.GRU on a PackedSequence (its batch sizes are "
    "data-dependent); without fullgraph it would run the packed GRU eagerly, untested"
)
_RECOMPILE_LIMIT = 100_000


class FallbackToEager(RuntimeError):
    """torch.compile did not run compiled code for a call (it would have run the GRU eagerly)."""


def _gru_args(module: Any) -> dict[str, Any]:
    return dict(module.gru_args)


def _holder_init(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Build the ``nn.GRU`` the holder mirrors; register its parameters as the holder's own
    (``weight_ih_l0`` ...: the state dict of an ``nn.GRU``)."""
    names = ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout",
             "bidirectional")  # fmt: skip
    gru_args = dict(zip(names, args, strict=False))
    gru_args.update(kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dropout with one layer
        template = torch.nn.GRU(**gru_args)
    object.__setattr__(module, "gru_args", gru_args)
    for name, p in template.named_parameters():
        module.register_parameter(name, p)
    return template


def _fresh_gru(module: Any, like: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gru = torch.nn.GRU(**_gru_args(module)).to(device=like.device, dtype=like.dtype)
    return gru.train(module.training)


def _refuse_packed(x: Any, reason: str) -> None:
    from torch.nn.utils.rnn import PackedSequence

    if isinstance(x, PackedSequence):
        raise TypeError(f"PackedSequence input: {reason}")


class ExportedGRU(torch.nn.Module):
    """``nn.GRU``'s constructor and parameters; ``forward`` runs the decomposed exported program
    of an ``nn.GRU`` of the input's configuration and sequence length (exported once, cached)."""

    gru_args: dict[str, Any]
    programs: dict[tuple[Any, ...], Any]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        _holder_init(self, args, kwargs)
        self.programs: dict[tuple[Any, ...], Any] = {}
        self.exports = 0

    def _program(self, x: Any, hx: Any) -> Any:
        batched = x.dim() == 3
        bf = bool(self.gru_args.get("batch_first", False))
        T = x.shape[1 if batched and bf else 0]
        key = (batched, T, hx is None, x.dtype, str(x.device), self.training)
        program = self.programs.get(key)
        if program is not None:
            return program
        gru = _fresh_gru(self, x)
        if batched:
            shape = list(x.shape)
            shape[0 if bf else 1] = 2
            ex = torch.zeros(shape, dtype=x.dtype, device=x.device)
            B = torch.export.Dim("B", min=1, max=1 << 16)
            dyn: list[Any] = [{0 if bf else 1: B}]
        else:
            ex = torch.zeros(tuple(x.shape), dtype=x.dtype, device=x.device)
            dyn = [None]
        args = [ex]
        if hx is not None:
            h_shape = list(hx.shape)
            if batched:
                h_shape[1] = 2
            args.append(torch.zeros(h_shape, dtype=hx.dtype, device=hx.device))
            dyn.append({1: B} if batched else None)
        with warnings.catch_warnings(), _quiet_logging():
            warnings.simplefilter("ignore")
            ep = torch.export.export(gru, tuple(args), dynamic_shapes=tuple(dyn))
            program = ep.run_decompositions().module()
        self.programs[key] = program
        self.exports += 1
        return program

    def forward(self, input: Any, hx: Any = None) -> Any:
        _refuse_packed(input, LENGTHS_REASON_EXPORT)
        program = self._program(input, hx)
        args = (input,) if hx is None else (input, hx)
        return torch.func.functional_call(program, dict(self.named_parameters()), args)


class CompiledGRU(torch.nn.Module):
    """``nn.GRU``'s constructor and parameters; ``forward`` runs ``torch.compile(nn.GRU,
    fullgraph=True)`` (inductor, RNN capture on) sharing these parameters, and raises
    ``FallbackToEager`` when a call did not run compiled code."""

    gru_args: dict[str, Any]
    _template: Any
    _compiled: Any
    kernels: list[int]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        object.__setattr__(self, "_template", _holder_init(self, args, kwargs))
        object.__setattr__(self, "_compiled", None)
        self.compiled_runs = 0
        self.compilations = 0
        self.kernels: list[int] = []

    def _backend(self, gm: Any, example_inputs: Any) -> Any:
        from torch._inductor import metrics
        from torch._inductor.compile_fx import compile_fx

        before = metrics.generated_kernel_count
        compiled: Any = compile_fx(gm, example_inputs)
        self.compilations += 1
        self.kernels.append(metrics.generated_kernel_count - before)

        def run(*args: Any) -> Any:
            self.compiled_runs += 1
            return compiled(*args)

        return run

    def forward(self, input: Any, hx: Any = None) -> Any:
        _refuse_packed(input, LENGTHS_REASON_COMPILE)
        template = self._template
        for name, p in self.named_parameters():  # after .to(): share the current Parameters
            template._parameters[name] = p
        template.train(self.training)
        if self._compiled is None:
            object.__setattr__(
                self,
                "_compiled",
                torch.compile(template, backend=self._backend, fullgraph=True, dynamic=False),
            )
        runs = self.compiled_runs
        with _dynamo_settings():
            result = self._compiled(input, hx)
        if self.compiled_runs == runs:
            raise FallbackToEager(
                "torch.compile returned without running the compiled graph (eager fall back)"
            )
        if self.kernels and self.kernels[-1] == 0:
            raise FallbackToEager("inductor generated no kernel for the GRU graph")
        return result


@contextlib.contextmanager
def _dynamo_settings() -> Iterator[None]:
    import torch._dynamo

    with torch._dynamo.config.patch(
        allow_rnn=True,
        recompile_limit=_RECOMPILE_LIMIT,
        accumulated_recompile_limit=_RECOMPILE_LIMIT,
        fail_on_recompile_limit_hit=True,
    ):
        yield


@contextlib.contextmanager
def _quiet_logging() -> Iterator[None]:
    """torch.export logs warnings (e.g. about unbacked symbols) through Python logging."""
    import logging

    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)


def _check_dtype(name: str, dtype: str | None) -> str:
    dtype = dtype or "float32"
    if dtype not in ("float32", "float64"):
        raise TargetError(f"{name} runs float32 or float64, not {dtype}")
    return dtype


class CompilingTarget(TorchModuleTarget):
    """A ``TorchModuleTarget`` whose module exports or compiles once per input shape.

    ``compile_seconds``: how long a call with a new shape may take; the checker's adaptive
    per-call limit does not go below it (still at most ``--timeout``), so a compilation that
    takes longer than the first call's usual 10 s is not taken for a hang.

    Its inputs are fresh contiguous tensors (``strided_inputs`` False): a compiled graph guards
    on strides, so every new layout would compile again (minutes) for what the plain module's
    check (``torch-gru``) already covers; the memory layouts law is skipped."""

    strided_inputs = False

    def __init__(self, *args: Any, compile_seconds: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.compile_seconds = compile_seconds


EXPORT_SECONDS = 60.0
"""torch.export + run_decompositions of a three-layer bidirectional GRU: ~5-15 s on 2 busy cores."""
COMPILE_SECONDS = 300.0
"""torch.compile's backward compilation of a three-layer GRU: over a minute on 2 cores."""


def make_torch_export_target(device: str = "cpu", dtype: str | None = None) -> Implementation:
    """The ``torch-export`` target (module docstring)."""
    return _compiling_target(
        "torch-export", ExportedGRU, LENGTHS_REASON_EXPORT, EXPORT_SECONDS, device, dtype
    )


def make_torch_compile_target(device: str = "cpu", dtype: str | None = None) -> Implementation:
    """The ``torch-compile`` target (module docstring)."""
    return _compiling_target(
        "torch-compile", CompiledGRU, LENGTHS_REASON_COMPILE, COMPILE_SECONDS, device, dtype
    )


def _compiling_target(
    name: str,
    module: type,
    lengths_reason: str,
    compile_seconds: float,
    device: str,
    dtype: str | None,
) -> CompilingTarget:
    """``name`` (``name[dtype]`` off float32) running ``module``, without lengths."""
    dt = _check_dtype(name, dtype)
    return CompilingTarget(
        module, name=name + ("" if dt == "float32" else f"[{dt}]"), device=device, dtype=dt,
        missing={"lengths": lengths_reason}, compile_seconds=compile_seconds,
    )  # fmt: skip
