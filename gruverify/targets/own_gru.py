"""A hand-written torch GRU checked through what the user declares about it, with no wrapper.

``OwnGRUTarget`` builds the user's class (or a few-line factory) as ``factory(input_size,
hidden_size)``: one layer, one direction, time-major, biases always present. What it computes and
how it is called are declared (``gruverify.targets.declaration.Declaration``):

- ``variant``: ``reset_after``, ``reset_before`` or ``reset_after_no_bhn``;
- ``update``: ``standard`` (``h' = (1 - z) n + z h``) or ``complement`` (``h' = z n + (1 - z) h``);
- ``layout`` (``fused``, ``transposed``, ``concat``) with ``gate_order``, and/or ``params``, an
  explicit map from the canonical blocks to its parameters (``gruverify.layouts.param_map``): the
  same map writes the drawn weights into its parameters and reads the canonical gradients from
  its parameters' ``.grad``;
- ``cell`` (``forward(x_t, h) -> h'``, run over time by a Python loop) or a layer
  (``forward(x (T, B, I), h (B, H))``); ``needs_h`` (``forward`` requires ``h``: zeros are passed
  for ``h0 = None``); ``returns``: ``state`` (a cell's ``h'``; a cell's ``pair`` is ``(y, h')``),
  ``pair`` (``(output, h_n)``, ``h_n`` as ``(B, H)`` or ``(1, B, H)``), ``outputs`` (the outputs
  only: ``h_n`` is taken as the last output, which is the GRU's definition for one direction
  without lengths, so the checks comparing ``h_n`` with the reference judge the last output again)
  or ``list`` (a list of per-step states, stacked; ``h_n`` the last).

The initial state is passed as ``h0[0]`` (``(B, H)``) when ``h0`` has one layer, as it is
otherwise (a wrong-shaped ``h0`` reaches the target, which should reject it). Features a
hand-written layer does not have in this form are declared missing: stacking, directions,
lengths, dropout, ``bias=False``, the unbatched and batch-first layouts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np

from gruverify.core.params import StackParams, Variant, random_gru_params
from gruverify.core.problem import Gradients, Problem, split_leaf_gradients
from gruverify.guard import validate_tensor, watch
from gruverify.laws.base import LawViolation
from gruverify.layouts.errors import LayoutError
from gruverify.layouts.param_map import FOLDED, ParamMap, parse_param_map, preset
from gruverify.targets.errors import TargetError
from gruverify.targets.torch_module import TorchBase

__all__ = ["OwnGRUTarget"]


def _to_np(t: Any) -> np.ndarray:
    import torch

    return t.detach().to("cpu", torch.float64).numpy()  # type: ignore[no-any-return]


def merged_map(base: ParamMap | None, explicit: ParamMap | None) -> ParamMap:
    """``base``'s entries with ``explicit``'s over them: an explicit entry replaces the base's
    entry of the same block, and a folded bias replaces its terms (and the reverse)."""
    entries = dict(base.slots) if base else {}
    for key, slot in explicit.slots if explicit else ():
        for folded, terms in FOLDED.items():
            if key == folded:
                for t in terms:
                    entries.pop(t, None)
            elif key in terms:
                entries.pop(folded, None)
        entries[key] = slot
    return ParamMap(tuple(entries.items()))


class OwnGRUTarget(TorchBase):
    """A hand-written torch GRU cell or layer as an ``Implementation`` (see the module doc)."""

    OWN_MISSING: ClassVar[dict[str, str]] = {
        "multilayer": "a hand-written GRU is checked as one layer (built as factory(I, H))",
        "bidirectional": "a hand-written GRU is checked in one direction",
        "lengths": "a hand-written GRU takes no sequence lengths",
        "dropout": "a hand-written GRU has no dropout",
        "bias_false": "the declared layout has biases (factory(I, H) takes no bias flag)",
        "unbatched": "a hand-written GRU is called with a batch (x of shape (T, B, I))",
        "batch_first": "a hand-written GRU is called time-major (x of shape (T, B, I))",
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
        cell: bool = False,
        conventions: Mapping[str, Any] | None = None,
        modules: dict[tuple[Any, ...], Any] | None = None,
        probe: bool = True,
    ) -> None:
        super().__init__(
            factory, name=name, device=device, dtype=dtype,
            missing={**self.OWN_MISSING, **(missing or {})}, variant=variant,
        )  # fmt: skip
        c = dict(conventions or {})
        self.cell = cell
        self.update: str = c.get("update") or "standard"
        self.gate_order: str = c.get("gate_order") or "rzn"
        self.explicit = parse_param_map(c["params"]) if c.get("params") else None
        self.layout: str | None = c.get("layout") or (None if self.explicit else "fused")
        self.needs_h = bool(c.get("needs_h"))
        self.returns: str = c.get("returns") or ("state" if cell else "pair")
        allowed = ("state", "pair") if cell else ("pair", "outputs", "list")
        if self.returns not in allowed:
            raise TargetError(
                f"{self.name}: returns = {self.returns!r} does not fit a "
                f"{'cell' if cell else 'layer'} (expected one of {', '.join(allowed)})"
            )
        self._maps: dict[tuple[Any, ...], ParamMap] = {}
        if modules is not None:
            self._modules = modules
        if probe:
            self.probe()

    def probe(self) -> None:
        """Build, load and call a small module: ``TargetError`` naming the declaration's part
        that does not fit (a layout, a map entry, a calling convention)."""
        problem = Problem(random_gru_params(2, 3, rng=0), np.linspace(-1, 1, 12).reshape(3, 2, 2))
        try:
            self.forward(problem)
        except LawViolation:
            pass  # it runs; the checks will report what it gets wrong
        except LayoutError as e:
            raise TargetError(f"{self.name}: the declared parameters do not fit: {e}") from e
        except Exception as e:
            raise TargetError(
                f"{self.name} cannot be called as declared (built as factory(input_size, "
                f"hidden_size), {'a cell' if self.cell else 'a layer'}, returns={self.returns}, "
                f"needs_h={self.needs_h}): {type(e).__name__}: {e}. See docs/adapters.md."
            ) from e

    def param_map(self, module: Any, I: int, H: int) -> ParamMap:
        """The declared map for ``module``: the layout's, with the explicit entries over it."""
        shapes = [(n, tuple(p.shape)) for n, p in module.named_parameters()]
        base = preset(self.layout, self.gate_order, shapes, I, H) if self.layout else None
        pmap = merged_map(base, self.explicit)
        pmap.check(self.variant)
        return pmap

    def _module(self, problem: Problem) -> Any:
        import torch

        p = problem.params
        if p.num_layers != 1 or p.bidirectional:
            raise ValueError(f"{self.name} is one layer, one direction ({problem.describe()})")
        key = (p.input_size, p.hidden_size)
        module = self._modules.get(key)
        if module is None:
            module = self.factory(p.input_size, p.hidden_size).to(
                device=self.device, dtype=self._dt
            )
            self._modules[key] = module
        if key not in self._maps:
            self._maps[key] = self.param_map(module, *key)
        digest = f"{p.digest()}:{id(module)}"
        if self._loaded.get(key) != digest:
            named = dict(module.named_parameters())
            shapes = {n: tuple(t.shape) for n, t in named.items()}
            arrays = self._maps[key].load(p.cell(0, 0), shapes, self.update, self.variant)
            with torch.no_grad():
                for n, a in arrays.items():
                    named[n].copy_(torch.as_tensor(a, dtype=self._dt, device=self.device))
            self._loaded[key] = digest
        return module

    def _state(self, problem: Problem, x: Any, h0: Any) -> Any:
        """The state passed to the target: ``h0[0]`` (or ``h0`` when it has several layers), zeros
        when ``needs_h`` and no ``h0``, None otherwise."""
        import torch

        if h0 is not None:
            return h0[0] if h0.shape[0] == 1 else h0
        if self.needs_h:
            return torch.zeros(x.shape[1], problem.params.hidden_size, dtype=self._dt,
                               device=self.device)  # fmt: skip
        return None

    def _run(self, module: Any, x: Any, h: Any) -> tuple[Any, Any]:
        """``(output (T, B, H), h_n (1, B, H))`` from the module as declared."""
        import torch

        if self.cell:
            ys = []
            for t in range(x.shape[0]):
                h = module(x[t]) if h is None else module(x[t], h)
                if self.returns == "pair":
                    h = h[1]
                ys.append(h)
            return torch.stack(ys), ys[-1].unsqueeze(0)
        result = module(x) if h is None else module(x, h)
        if self.returns == "outputs":
            return result, result[-1:]
        if self.returns == "list":
            out = torch.stack(list(result))
            return out, out[-1:]
        if self.returns != "pair" or not isinstance(result, (tuple, list)) or len(result) != 2:
            raise TypeError(
                f"forward returned {type(result).__name__}, expected (output, h_n) "
                f"(returns={self.returns}; declare returns = outputs or list otherwise)"
            )
        out, h_n = result
        return out, (h_n.unsqueeze(0) if h_n.dim() == 2 else h_n)

    def _call(self, module: Any, problem: Problem, x: Any, h0: Any) -> tuple[Any, Any]:
        if problem.lengths is not None or problem.batch_first or not problem.batched:
            raise ValueError(f"{self.name} takes time-major batches only ({problem.describe()})")
        before = [t.detach().clone() for t in (x, h0) if t is not None]
        what = f"{self.name}.forward"
        with watch(what, problem.describe()):
            out, h_n = self._run(module, x, self._state(problem, x, h0))
        for name, b, a in zip(
            ("input", "h0"), before, [t for t in (x, h0) if t is not None], strict=False
        ):
            if not bool((b == a.detach()).all()):
                raise LawViolation(
                    "inputs unchanged", "forward(x, h0) must not modify x or h0 in place",
                    f"forward modified its {name} in place", {"quantity": name},
                    problem.describe(),
                )  # fmt: skip
        validate_tensor("output", out, self._dt, self.device, problem, what)
        validate_tensor("h_n", h_n, self._dt, self.device, problem, what)
        return out, h_n

    def gradients(
        self, problem: Problem, d_output: np.ndarray | None, d_h_n: np.ndarray | None
    ) -> Gradients:
        """Autograd's gradients of the target's own parameters, read back through the map."""
        import torch

        module = self._module(problem)
        module.train()
        p = problem.params
        pmap = self._maps[(p.input_size, p.hidden_size)]
        names = pmap.params()
        named = dict(module.named_parameters())
        x = self._tensor(problem.x, True)
        h0 = self._tensor(problem.h0, True)
        with torch.enable_grad():
            out, h_n = self._call(module, problem, x, h0)
            leaves = [x] + ([h0] if h0 is not None else []) + [named[n] for n in names]
            grads = torch.autograd.grad(
                self._loss(out, h_n, d_output, d_h_n), leaves, allow_unused=True
            )
        dx, dh0, rest = split_leaf_gradients(
            grads, leaves, h0 is not None, tuple(h_n.shape), _to_np
        )
        cell = pmap.gather(dict(zip(names, rest, strict=True)), p.input_size, p.hidden_size,
                           self.update, self.variant)  # fmt: skip
        return Gradients(dx, dh0, StackParams(((cell,),), bias=p.bias))
