"""Adapters that turn a torch module class into an ``Implementation``.

``TorchModuleTarget`` wraps any class or factory with ``torch.nn.GRU``'s constructor signature
``(input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
bidirectional=False)`` whose modules use ``torch.nn.GRU``'s state-dict names and shapes and whose
``forward(input, hx=None)`` returns ``(output, h_n)``. ``TorchCellTarget`` wraps a
``torch.nn.GRUCell``-shaped class ``(input_size, hidden_size, bias=True)`` with
``forward(input, hx=None) -> h'`` and runs it over time with a Python loop.

One module instance is built per configuration (sizes, layers, directions, bias, layout) and serves
every problem of that configuration: weights are loaded only when they change, so state that leaks
between calls, or weights a forward pass modifies, show up in the checks. Forward passes run in
``eval()`` mode under ``torch.no_grad()``; gradients in ``train()`` mode (cuDNN's RNN backward
needs it; dropout is 0 there).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np

from gruverify import error_model
from gruverify.core.dtypes import DTYPES
from gruverify.core.features import FEATURES
from gruverify.core.memory import layout_of
from gruverify.core.params import GRUCellParams, Variant, random_gru_params
from gruverify.core.problem import Capabilities, Gradients, Outputs, Problem, split_leaf_gradients
from gruverify.core.tracebacks import own_frame
from gruverify.error_model import Arithmetic, arithmetic_for
from gruverify.guard import validate_tensor, watch
from gruverify.laws.base import LawViolation
from gruverify.layouts.torch_layout import gru_cell_to_torch, gru_from_torch, gru_to_torch
from gruverify.targets.errors import TargetError

__all__ = [
    "CUDNN_FLOAT32",
    "PARAMETER_MAP",
    "TorchBase",
    "TorchCellTarget",
    "TorchModuleTarget",
    "load_error",
    "raised_in_own_code",
    "validate_missing",
    "validate_parameter_names",
]

CUDNN_FLOAT32 = error_model.CUDNN_FLOAT32
"""Re-exported from ``gruverify.error_model`` (where the measurement behind it is documented)."""


def validate_missing(missing: Mapping[str, str] | None, where: str) -> dict[str, str]:
    """``missing`` as a plain dict; raise ``TargetError`` for a feature name gruverify doesn't know."""
    if missing is None:
        return {}
    if not isinstance(missing, Mapping):
        raise TargetError(f"{where}: gruverify_missing must be a dict feature -> reason")
    out = {str(k): str(v) for k, v in missing.items()}
    unknown = sorted(set(out) - set(FEATURES))
    if unknown:
        raise TargetError(
            f"{where}: unknown feature(s) {unknown} in gruverify_missing; known: {FEATURES}"
        )
    return out


PARAMETER_MAP = "gruverify_parameter_names"
"""The class attribute that maps ``torch.nn.GRU``'s state-dict names to a target's own
(``{"weight_hh_l0": "w_hh_l0"}``): parameters named otherwise load and differentiate under it."""


def validate_parameter_names(names: Mapping[str, str] | None, where: str) -> dict[str, str]:
    """``names`` (nn.GRU name -> the target's) as a plain dict; ``TargetError`` for a map that
    is not one of strings."""
    if names is None:
        return {}
    if not isinstance(names, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in names.items()
    ):
        raise TargetError(f"{where}: {PARAMETER_MAP} must be a dict nn.GRU name -> your name")
    return dict(names)


def load_error(name: str, module: Any, wanted: Mapping[str, Any], e: Exception) -> str:
    """One line on why the state dict ``wanted`` (nn.GRU's names, mapped) does not load into
    ``module``: the missing and unexpected keys, the closest nn.GRU name for each unexpected one
    (``did you mean `weight_hh_l0` for `w_hh_l0`?``), wrong shapes, and the way to declare a
    map (``PARAMETER_MAP``)."""
    import difflib

    have = module.state_dict()
    missing = [k for k in wanted if k not in have]
    unexpected = [k for k in have if k not in wanted]
    parts = []
    if missing:
        parts.append("missing keys (torch.nn.GRU's names): " + ", ".join(missing))
    if unexpected:
        parts.append("unexpected keys: " + ", ".join(unexpected))
    guesses = {}
    for k in unexpected:
        close = difflib.get_close_matches(k, missing, n=1, cutoff=0.5)
        if close:
            guesses[close[0]] = k
    hints = [f"did you mean `{m}` for `{u}`?" for m, u in guesses.items()] or ["."]
    shapes = [
        f"{k} has shape {tuple(have[k].shape)}, nn.GRU's is {tuple(wanted[k].shape)}"
        for k in wanted if k in have and tuple(have[k].shape) != tuple(wanted[k].shape)
    ]  # fmt: skip
    if not parts and not shapes:
        return f"{name}: cannot load torch.nn.GRU's state dict: {str(e).splitlines()[0]}"
    example = guesses or {"weight_hh_l0": "your_name"}
    return (
        f"{name}'s parameters do not load as torch.nn.GRU's: "
        + "; ".join(parts + shapes)
        + ("" if hints == ["."] else "; ")
        + " ".join(hints)
        + f" Rename them, or declare the map on the class: {PARAMETER_MAP} = {example!r} "
        "(nn.GRU name -> yours; docs/adapters.md), or on the command line: "
        + " ".join(f"--parameter-name {k}={v}" for k, v in example.items())
    )


def raised_in_own_code(e: BaseException) -> bool:
    """Whether ``e`` was raised inside the target's own code (a frame of it in the traceback,
    ``core.tracebacks.own_frame``): a crash while computing, not a call that does not fit."""
    import traceback

    return any(own_frame(f.filename) for f in traceback.extract_tb(e.__traceback__))


def _torch_dtype(dtype: str) -> Any:
    import torch

    if dtype not in DTYPES:
        raise TargetError(
            f"unknown dtype {dtype!r}; expected float64, float32, float16 or bfloat16"
        )
    return getattr(torch, dtype)


def _to_np(t: Any) -> np.ndarray:
    import torch

    if not isinstance(t, torch.Tensor):
        raise TypeError(f"expected a tensor, got {type(t).__name__}")
    return t.detach().to("cpu", torch.float64).numpy()  # type: ignore[no-any-return]


def _check_unchanged(before: list[Any], after: list[Any], problem: Problem) -> None:
    """The law ``forward`` leaves its arguments alone: input and initial state are unchanged."""
    import torch

    for name, b, a in zip(("input", "h0"), before, after, strict=False):
        if not torch.equal(b, a.detach()):
            diff = float((b.double() - a.detach().double()).abs().max())
            raise LawViolation(
                "inputs unchanged", "forward(x, h0) must not modify x or h0 in place",
                f"forward modified its {name} in place (max change {diff:.3g})",
                {"quantity": name, "max change": diff}, problem.describe(),
            )  # fmt: skip


class TorchBase:
    """What the module and cell adapters share: dtype/device handling and the autograd loss."""

    variant: Variant
    capabilities: Capabilities
    strided_inputs: ClassVar[bool] = True
    """The problem's arrays reach the module in their memory layout (``_tensor``): the memory
    layouts law (``gruverify.laws.memory_layout``) applies."""

    def __init__(
        self,
        factory: Callable[..., Any],
        *,
        name: str | None,
        device: str,
        dtype: str,
        missing: Mapping[str, str] | None,
        variant: Variant,
        parameter_names: Mapping[str, str] | None = None,
    ) -> None:
        self.factory = factory
        self.parameter_names = validate_parameter_names(parameter_names, name or "the target")
        self.name = name or str(getattr(factory, "__qualname__", repr(factory)))
        self.device = device
        self.dtype = dtype
        self.variant = variant
        self._dt = _torch_dtype(dtype)
        self.capabilities = Capabilities(validate_missing(missing, self.name))
        self._modules: dict[tuple[Any, ...], Any] = {}
        self._loaded: dict[tuple[Any, ...], str] = {}

    @property
    def arithmetic(self) -> Arithmetic:
        """``arithmetic_for(dtype, device)``: torch's arithmetic, its float32 accumulator for
        TF32, float16 and bfloat16 included (torch's kernels); read at each call."""
        return arithmetic_for(self.dtype, self.device)

    def _tensor(self, a: np.ndarray | None, requires_grad: bool = False) -> Any:
        """``a`` as a tensor of the target's dtype and device, in ``a``'s memory layout: a view
        of a numpy buffer (``core.memory.layout_of``: transposed, sliced past its start,
        expanded) becomes the same view of that buffer as a tensor, so the module sees the
        strides and storage offset a user's tensor has (gradients flow to the view)."""
        import torch

        if a is None:
            return None
        layout = layout_of(a) if self.strided_inputs and isinstance(a, np.ndarray) else None
        if layout is None:
            t = torch.tensor(
                np.array(a, dtype=np.float64, order="C"), dtype=self._dt, device=self.device
            )
            return t.requires_grad_(requires_grad)
        buf = torch.tensor(
            np.asarray(layout.buffer, dtype=np.float64), dtype=self._dt, device=self.device
        ).requires_grad_(requires_grad)
        return buf.as_strided(layout.shape, layout.strides, layout.offset)

    def _loss(
        self, out: Any, h_n: Any, d_output: np.ndarray | None, d_h_n: np.ndarray | None
    ) -> Any:
        loss = out.sum() * 0 + h_n.sum() * 0
        if d_output is not None:
            loss = loss + (out * self._tensor(d_output)).sum()
        if d_h_n is not None:
            loss = loss + (h_n * self._tensor(d_h_n)).sum()
        return loss

    def _module(self, problem: Problem) -> Any:
        raise NotImplementedError

    def _call(self, module: Any, problem: Problem, x: Any, h0: Any) -> tuple[Any, Any]:
        """``(output, h_n)`` of ``module`` on the problem's tensors."""
        raise NotImplementedError

    def _state_dict(self, names: Any, values: list[np.ndarray]) -> dict[str, np.ndarray]:
        """Parameter gradients keyed as an ``nn.GRU`` state dict (for ``gru_from_torch``)."""
        torch_name = {v: k for k, v in self.parameter_names.items()}
        return {torch_name.get(n, n): v for n, v in zip(names, values, strict=True)}

    def _load(self, module: Any, sd: dict[str, Any]) -> None:
        """Load ``sd`` (``torch.nn.GRU``'s names) under the target's names
        (``parameter_names``); a mismatch is a ``TargetError`` naming every missing and
        unexpected key (``load_error``)."""
        sd = {self.parameter_names.get(k, k): v for k, v in sd.items()}
        try:
            module.load_state_dict(sd, strict=True)
        except RuntimeError as e:
            raise TargetError(load_error(self.name, module, sd, e)) from e

    def forward(self, problem: Problem) -> Outputs:
        import torch

        module = self._module(problem)
        module.eval()
        with torch.no_grad():
            out, h_n = self._call(
                module, problem, self._tensor(problem.x), self._tensor(problem.h0)
            )
        return Outputs(_to_np(out), _to_np(h_n))

    def gradients(
        self, problem: Problem, d_output: np.ndarray | None, d_h_n: np.ndarray | None
    ) -> Gradients:
        import torch

        module = self._module(problem)
        module.train()
        x = self._tensor(problem.x, True)
        h0 = self._tensor(problem.h0, True)
        with torch.enable_grad():
            out, h_n = self._call(module, problem, x, h0)
            named = dict(module.named_parameters())
            leaves = [x] + ([h0] if h0 is not None else []) + list(named.values())
            grads = torch.autograd.grad(
                self._loss(out, h_n, d_output, d_h_n), leaves, allow_unused=True
            )
        dx, dh0, rest = split_leaf_gradients(
            grads, leaves, h0 is not None, tuple(h_n.shape), _to_np
        )
        return Gradients(dx, dh0, gru_from_torch(self._state_dict(named, rest)))


class TorchModuleTarget(TorchBase):
    """An ``nn.GRU``-shaped module class as an ``Implementation`` (see the module docstring).

    ``missing`` declares absent features (``{"bidirectional": "why"}``): their checks are skipped.
    Unless declared, ``lengths`` is probed: a target whose forward does not accept a
    ``PackedSequence`` gets ``lengths`` marked missing with the error as the reason.
    """

    def __init__(
        self,
        factory: Callable[..., Any],
        *,
        name: str | None = None,
        device: str = "cpu",
        dtype: str = "float32",
        missing: Mapping[str, str] | None = None,
        variant: Variant = "reset_after",
        dropout: float = 0.0,
        probe: bool = True,
        parameter_names: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(
            factory, name=name, device=device, dtype=dtype, missing=missing, variant=variant,
            parameter_names=parameter_names,
        )  # fmt: skip
        self.dropout = dropout
        if probe:
            self._probe()

    @property
    def arithmetic(self) -> Arithmetic:
        """``arithmetic_for(dtype, device, backend="cudnn")`` for torch's own RNN modules (cuDNN's
        float32 GRU with TF32 off is less accurate than float32: ``CUDNN_FLOAT32``), without a
        backend for any other module; read at each call, so it follows the TF32 flags as the user
        has them set."""
        backend = "cudnn" if self._cudnn_backed() else None
        return arithmetic_for(self.dtype, self.device, backend=backend)

    def _cudnn_backed(self) -> bool:
        import inspect

        import torch

        f = self.factory
        return inspect.isclass(f) and issubclass(f, torch.nn.RNNBase)

    def with_dropout(self, dropout: float) -> TorchModuleTarget:
        """The same target with modules built with ``dropout`` (for the eval-mode dropout law)."""
        t = TorchModuleTarget(
            self.factory, name=f"{self.name}[dropout={dropout}]", device=self.device,
            dtype=self.dtype, missing=None, variant=self.variant, dropout=dropout, probe=False,
            parameter_names=self.parameter_names,
        )  # fmt: skip
        t.capabilities = self.capabilities
        return t

    def _probe(self) -> None:
        """Build, load and call a small module; find out whether it takes a PackedSequence.

        What the user got wrong about the call is a ``TargetError`` (a usage error): the
        constructor, the state-dict names (``load_error``), ``forward``'s signature or what it
        returns (an exception raised before any frame of the target's own code). An exception
        the target raises while computing is not: it is kept (``probe_crash``) and the checks
        report it, with its traceback, as errors of the target."""
        params = random_gru_params(2, 3, rng=0)
        problem = Problem(params, np.linspace(-1, 1, 3 * 2 * 2).reshape(3, 2, 2))
        self.probe_crash: Exception | None = None
        try:
            self._module(problem)  # the constructor and the names: usage errors either way
            self.forward(problem)
        except TargetError:
            raise
        except LawViolation:
            pass  # it runs; the checks will report what it gets wrong
        except Exception as e:
            if raised_in_own_code(e) and self._modules:  # built: a crash while computing
                self.probe_crash = e  # the checks' errors
                return
            raise TargetError(
                f"{self.name} does not behave like torch.nn.GRU (constructor "
                f"(input_size, hidden_size, num_layers, bias, batch_first, dropout, "
                f"bidirectional), torch.nn.GRU state-dict names, forward(input, hx) -> "
                f"(output, h_n)): {type(e).__name__}: {e}. A hand-written GRU? `gruverify suggest "
                f"{self.name}` finds its declaration (docs/adapters.md)."
                + (" A GRUCell-shaped class? Add --cell." if "cell" in self.name.lower() else "")
            ) from e
        if self.capabilities.supports("lengths"):
            self._probe_lengths(params, problem)

    def _probe_lengths(self, params: Any, problem: Problem) -> None:
        try:
            out = self.forward(Problem(params, problem.x, lengths=np.array([3, 1])))
            if out.output.shape != (3, 2, 3):
                raise TypeError(f"padded output has shape {out.output.shape}, expected (3, 2, 3)")
        except Exception as e:
            missing = dict(self.capabilities.missing)
            missing["lengths"] = f"forward does not take a PackedSequence ({type(e).__name__}: {e})"
            self.capabilities = Capabilities(missing)

    def _module(self, problem: Problem) -> Any:
        p = problem.params
        key = (p.input_size, p.hidden_size, p.num_layers, p.bias, problem.batch_first,
               p.bidirectional)  # fmt: skip
        module = self._modules.get(key)
        if module is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch warns about dropout with one layer
                module = self.factory(
                    p.input_size, p.hidden_size, p.num_layers, bias=p.bias,
                    batch_first=problem.batch_first, dropout=self.dropout,
                    bidirectional=p.bidirectional,
                )  # fmt: skip
            module = module.to(device=self.device, dtype=self._dt)
            self._modules[key] = module
        digest = p.digest()
        if self._loaded.get(key) != digest:
            import torch

            sd = {
                k: torch.as_tensor(v).to(device=self.device, dtype=self._dt)
                for k, v in gru_to_torch(p).items()
            }
            self._load(module, sd)
            self._loaded[key] = digest
        return module

    def _call(self, module: Any, problem: Problem, x: Any, h0: Any) -> tuple[Any, Any]:
        import torch
        from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

        args = () if h0 is None else (h0,)
        before = [t.detach().clone() for t in (x, h0) if t is not None]
        what = f"{self.name}.forward"
        with watch(what, problem.describe()):
            if problem.lengths is None:
                result = module(x, *args)
            else:
                lengths = torch.as_tensor(np.asarray(problem.lengths), dtype=torch.int64)
                packed = pack_padded_sequence(x, lengths, problem.batch_first, enforce_sorted=False)
                result = module(packed, *args)
        _check_unchanged(before, [t for t in (x, h0) if t is not None], problem)
        if not isinstance(result, tuple) or len(result) != 2:
            raise TypeError(f"forward returned {type(result).__name__}, expected (output, h_n)")
        out, h_n = result
        if problem.lengths is not None:
            if not isinstance(out, PackedSequence):
                raise TypeError(f"forward(PackedSequence) returned a {type(out).__name__} output")
            out, _ = pad_packed_sequence(out, problem.batch_first, total_length=problem.steps)
        validate_tensor("output", out, self._dt, self.device, problem, what)
        validate_tensor("h_n", h_n, self._dt, self.device, problem, what)
        return out, h_n


class TorchCellTarget(TorchBase):
    """An ``nn.GRUCell``-shaped class as an ``Implementation``: one layer, one direction, run
    over time by a Python loop ``h_t = cell(x_t, h_{t-1})`` (``cell(x_0)`` when ``h0`` is None).

    ``multilayer``, ``bidirectional`` and ``lengths`` are missing by construction: stacking,
    reversing and packing would be gruverify's code, not the cell's.
    """

    CELL_MISSING: ClassVar[dict[str, str]] = {
        "multilayer": "a GRU cell is one layer (stacking would be the caller's loop)",
        "bidirectional": "a GRU cell runs one direction (reversal would be the caller's loop)",
        "lengths": "a GRU cell has no notion of sequence length",
        "dropout": "a GRU cell has no dropout",
    }

    def __init__(
        self,
        factory: Callable[..., Any],
        *,
        name: str | None = None,
        device: str = "cpu",
        dtype: str = "float32",
        missing: Mapping[str, str] | None = None,
        variant: Variant = "reset_after",
        probe: bool = True,
        parameter_names: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(
            factory, name=name, device=device, dtype=dtype,
            missing={**self.CELL_MISSING, **(missing or {})}, variant=variant,
            parameter_names=parameter_names,
        )  # fmt: skip
        if probe:
            params = random_gru_params(2, 3, rng=0)
            self.probe_crash: Exception | None = None
            try:
                self.forward(Problem(params, np.linspace(-1, 1, 12).reshape(3, 2, 2)))
            except (LawViolation, TargetError) as e:
                if isinstance(e, TargetError):
                    raise  # the parameters' names do not load
            except Exception as e:
                if raised_in_own_code(e) and self._modules:  # built: a crash while computing
                    self.probe_crash = e
                    return
                raise TargetError(
                    f"{self.name} does not behave like torch.nn.GRUCell (constructor (input_size, "
                    f"hidden_size, bias), state-dict names weight_ih, weight_hh, bias_ih, bias_hh, "
                    f"forward(input, hx) -> h'): {type(e).__name__}: {e}. A hand-written GRU? `gruverify "
                    f"suggest {self.name}` finds its declaration (docs/adapters.md)."
                ) from e

    def _module(self, problem: Problem) -> Any:
        p = problem.params
        if p.num_layers != 1 or p.bidirectional:
            raise ValueError(
                f"{self.name} is a cell: one layer, one direction ({problem.describe()})"
            )
        key = (p.input_size, p.hidden_size, p.bias)
        module = self._modules.get(key)
        if module is None:
            module = self.factory(p.input_size, p.hidden_size, bias=p.bias)
            module = module.to(device=self.device, dtype=self._dt)
            self._modules[key] = module
        digest = p.digest()
        if self._loaded.get(key) != digest:
            import torch

            cell: GRUCellParams[np.ndarray] = p.cell(0, 0)
            sd = {
                k: torch.as_tensor(v).to(device=self.device, dtype=self._dt)
                for k, v in gru_cell_to_torch(cell, p.bias).items()
            }
            self._load(module, sd)
            self._loaded[key] = digest
        return module

    def _call(self, module: Any, problem: Problem, x: Any, h0: Any) -> tuple[Any, Any]:
        import torch

        if problem.lengths is not None:
            raise ValueError(f"{self.name} is a cell: it takes no lengths")
        seq = x.transpose(0, 1) if problem.batched and problem.batch_first else x
        h = None if h0 is None else h0[0]
        before = [t.detach().clone() for t in (x, h0) if t is not None]
        ys = []
        what = f"{self.name}.forward"
        with watch(what, problem.describe()):
            for t in range(seq.shape[0]):
                h = module(seq[t]) if h is None else module(seq[t], h)
                validate_tensor(f"h' (step {t})", h, self._dt, self.device, problem, what)
                ys.append(h)
        _check_unchanged(before, [t for t in (x, h0) if t is not None], problem)
        out = torch.stack(ys)
        assert h is not None  # steps >= 1
        if problem.batched and problem.batch_first:
            out = out.transpose(0, 1)
        return out, h.unsqueeze(0)

    def _state_dict(self, names: Any, values: list[np.ndarray]) -> dict[str, np.ndarray]:
        torch_name = {v: k for k, v in self.parameter_names.items()}
        return {f"{torch_name.get(k, k)}_l0": v for k, v in zip(names, values, strict=True)}
