"""A declared parameter map: where each canonical block lives in a target's own parameters.

A hand-written GRU stores the twelve canonical blocks (``W_ir ... b_hn``, ``gruverify.core.params``)
its own way. A ``ParamMap`` names, for each block, the target parameter that holds it and the part
of it: ``"NAME"``, ``"NAME[rows, cols]"`` or ``"NAME.T[rows, cols]"`` (the stored array transposed
first), the bounds integers or expressions in ``I`` (the input size) and ``H`` (the hidden size)::

    W_ir = "r_gate.weight[:, 0:I]"     # one Linear per gate over [x, h]: W_ir is columns 0:I
    W_hr = "r_gate.weight[:, I:I+H]"   # ... and W_hr the columns I:I+H of the same matrix
    W_iz = "kernel.T[0:H]"             # a kernel stored (I, 3H), gates z, r, n: rows 0:H of kernel^T

The block (after transposition and slicing) has the canonical shape: ``(H, I)`` for ``W_i*``,
``(H, H)`` for ``W_h*``, ``(H,)`` for biases. A **folded bias** ``b_r``, ``b_z``, ``b_n`` is one
bias per gate holding a sum: ``b_r = b_ir + b_hr``, ``b_z = b_iz + b_hz`` (exact for every
variant: both enter the gate's pre-activation as one sum), ``b_n = b_in + b_hn`` for reset-before
(the same reason); for reset-after ``b_hn`` sits inside ``r * (W_hn h + b_hn)`` and cannot be
folded, so a single candidate bias means ``b_n = b_in`` and no ``b_hn`` at all: the GRU
``reset_after_no_bhn`` (flax nnx's), a different GRU that must be declared as that variant.

The **update convention** ``complement`` (``h' = z n + (1 - z) h``, the course's ``Gamma_u``) is
the standard one (``h' = (1 - z) n + z h``, torch) with ``z`` replaced by ``1 - z = sigmoid(-a_z)``:
its update gate holds ``-W_iz, -W_hz, -b_iz, -b_hz`` (exact: a sign flip).

The same map serves both directions: ``load`` writes canonical parameters into the target's arrays
(every element of a mapped array must be written exactly once), ``gather`` reads the canonical
gradients from the target's parameter gradients (a folded bias's gradient is the gradient of each
of its terms; ``b_hn`` of ``reset_after_no_bhn`` has gradient 0). ``preset`` builds the map of a
common layout from the target's parameter names and shapes (in the order they are registered) and
a gate order: ``fused`` (``(3H, I)``, ``(3H, H)``, torch's), ``transposed`` (``(I, 3H)``, ``(H, 3H)``,
Keras' and many hand-written ones) and ``concat`` (one ``Linear`` per gate over ``[x, h]``, in gate
order), each with two biases ``(3H,)``, one folded bias ``(3H,)`` or a stacked ``(2, 3H)``.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np

from gruverify.core.params import GRU_PARAM_NAMES, GRUCellParams
from gruverify.layouts.errors import LayoutError

__all__ = [
    "FOLDED",
    "GATE_ORDERS",
    "LAYOUTS",
    "SLOT_NAMES",
    "UPDATES",
    "ParamMap",
    "Slot",
    "gate_order_value",
    "param_map_text",
    "parse_param_map",
    "per_gate_maps",
    "preset",
]

FOLDED: dict[str, tuple[str, str]] = {
    "b_r": ("b_ir", "b_hr"), "b_z": ("b_iz", "b_hz"), "b_n": ("b_in", "b_hn"),
}  # fmt: skip
"""A folded bias and the canonical biases it holds the sum of."""
SLOT_NAMES: tuple[str, ...] = (*GRU_PARAM_NAMES, *FOLDED)
UPDATES = ("standard", "complement")
"""``standard``: ``h' = (1 - z) n + z h`` (torch); ``complement``: ``h' = z n + (1 - z) h``."""
LAYOUTS = ("fused", "transposed", "concat")
GATE_ORDERS = ("rzn", "rnz", "zrn", "znr", "nrz", "nzr")
_Z_BLOCKS = ("W_iz", "W_hz", "b_iz", "b_hz", "b_z")

_SLOT = re.compile(r"^\s*(?P<name>[A-Za-z_][\w.]*?)(?P<t>\.T)?\s*(?:\[(?P<idx>[^\]]*)\])?\s*$")


def gate_order_value(text: str) -> str:
    """``text`` as a gate order: a permutation of ``r``, ``z``, ``n`` (``h`` is read as ``n``,
    the course's name of the candidate)."""
    order = str(text).strip().lower().replace("h", "n")
    if sorted(order) != ["n", "r", "z"]:
        raise ValueError(f"expected a permutation of r, z, n (e.g. rzn, zrn), got {text!r}")
    return order


def _bound(text: str, sizes: Mapping[str, int]) -> int:
    """An index bound: an integer expression in ``I`` and ``H`` (``+ - *``, parentheses)."""

    def ev(node: ast.AST) -> int:
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.Name) and node.id in sizes:
            return sizes[node.id]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -ev(node.operand)
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult)):
            a, b = ev(node.left), ev(node.right)
            return (
                a + b
                if isinstance(node.op, ast.Add)
                else a - b
                if isinstance(node.op, ast.Sub)
                else a * b
            )
        raise ValueError(f"index bound {text!r}: only integers, I, H, +, -, * are allowed")

    try:
        return ev(ast.parse(text.strip(), mode="eval").body)
    except SyntaxError:
        raise ValueError(f"index bound {text!r} is not an expression in I and H") from None


@dataclasses.dataclass(frozen=True)
class Slot:
    """Where one block lives: ``param`` (transposed first when ``transposed``) indexed by
    ``index`` (the text inside the brackets, ``""`` for the whole array)."""

    param: str
    transposed: bool = False
    index: str = ""

    @staticmethod
    def parse(text: str) -> Slot:
        m = _SLOT.match(str(text))
        if not m:
            raise ValueError(f"{text!r} is not NAME, NAME[rows, cols] or NAME.T[rows, cols]")
        return Slot(m["name"], bool(m["t"]), (m["idx"] or "").strip())

    def text(self) -> str:
        return (
            self.param
            + (".T" if self.transposed else "")
            + (f"[{self.index}]" if self.index else "")
        )

    def key(self, I: int, H: int) -> tuple[slice | int, ...]:
        """The index as slices (``a:b``) and integers, bounds evaluated for input size ``I`` and
        hidden size ``H``."""
        if not self.index:
            return ()
        out: list[slice | int] = []
        sizes = {"I": I, "H": H}
        for part in self.index.split(","):
            bounds = part.split(":")
            if len(bounds) == 1:
                out.append(_bound(part, sizes))
                continue
            if len(bounds) != 2:
                raise ValueError(f"{self.text()}: an index is a:b or an integer, got {part!r}")
            lo, hi = (_bound(b, sizes) if b.strip() else None for b in bounds)
            out.append(slice(lo, hi))
        if len(out) > 2:
            raise ValueError(f"{self.text()}: at most two indices (rows, cols)")
        return tuple(out)

    def view(self, array: np.ndarray, I: int, H: int) -> np.ndarray:
        """The block of ``array`` (a view: writing it writes the array)."""
        a = array.T if self.transposed else array
        try:
            return a[self.key(I, H)]
        except IndexError as e:
            raise LayoutError(f"{self.text()}: {e} (array of shape {a.shape})") from None


def _terms(block: str, variant: str) -> tuple[str, ...]:
    """The canonical parameters ``block`` holds the sum of (``b_n`` of ``reset_after_no_bhn``:
    ``b_in`` alone, the variant has no ``b_hn``)."""
    if block == "b_n" and variant == "reset_after_no_bhn":
        return ("b_in",)
    return FOLDED.get(block, (block,))


def _shape(block: str, I: int, H: int) -> tuple[int, ...]:
    if block.startswith("W_i"):
        return (H, I)
    return (H, H) if block.startswith("W_h") else (H,)


@dataclasses.dataclass(frozen=True)
class ParamMap:
    """Canonical blocks (and folded biases) to ``Slot`` s; see the module docstring."""

    slots: tuple[tuple[str, Slot], ...]

    def as_dict(self) -> dict[str, Slot]:
        return dict(self.slots)

    def params(self) -> list[str]:
        """The target parameters the map uses, in first-use order."""
        return list(dict.fromkeys(s.param for _, s in self.slots))

    def check(self, variant: str) -> None:
        """``LayoutError`` unless each canonical block is held exactly once (``b_hn`` by none
        for ``reset_after_no_bhn``, and a folded ``b_n`` only where it is exact)."""
        slots = self.as_dict()
        if "b_n" in slots and variant == "reset_after":
            raise LayoutError(
                "a single candidate bias b_n under reset_after has no b_hn inside the reset "
                "product: that GRU is the variant reset_after_no_bhn (declare it)"
            )
        for block in GRU_PARAM_NAMES:
            holders = [s for s in slots if s == block or block in FOLDED.get(s, ())]
            if block == "b_hn" and variant == "reset_after_no_bhn":
                holders = [h for h in holders if h != "b_n"]
                if holders:
                    raise LayoutError(
                        f"reset_after_no_bhn has no b_hn, but the map gives it {holders[0]!r}"
                    )
                continue
            if len(holders) != 1:
                what = (
                    "no entry" if not holders else f"{len(holders)} entries ({', '.join(holders)})"
                )
                raise LayoutError(f"the parameter map has {what} for {block}")

    def load(
        self, cell: GRUCellParams[np.ndarray], shapes: Mapping[str, tuple[int, ...]],
        update: str = "standard", variant: str = "reset_after",
    ) -> dict[str, np.ndarray]:  # fmt: skip
        """The target's arrays (float64, by name, shapes ``shapes``) holding ``cell``; every
        element of every mapped array written exactly once, else ``LayoutError``. A folded
        ``b_n`` of ``reset_after_no_bhn`` holds ``b_in`` alone."""
        I, H = cell.input_size, cell.hidden_size
        missing = [p for p in self.params() if p not in shapes]
        if missing:
            raise LayoutError(f"the target has no parameter {missing[0]!r}; it has {list(shapes)}")
        out = {p: np.zeros(shapes[p]) for p in self.params()}
        seen = {p: np.zeros(shapes[p], dtype=int) for p in self.params()}
        for block, slot in self.slots:
            names = _terms(block, variant)
            value = sum((np.asarray(getattr(cell, n), np.float64) for n in names), np.zeros(()))
            if update == "complement" and block in _Z_BLOCKS:
                value = -value
            view = slot.view(out[slot.param], I, H)
            if view.shape != _shape(names[0], I, H):
                raise LayoutError(
                    f"{block} = {slot.text()!r} has shape {view.shape}, expected "
                    f"{_shape(names[0], I, H)} (I={I}, H={H}; stored {shapes[slot.param]})"
                )
            view[...] = value
            slot.view(seen[slot.param], I, H)[...] += 1
        for p, count in seen.items():
            if np.any(count != 1):
                raise LayoutError(
                    f"{p} (shape {shapes[p]}): {int(np.sum(count == 0))} elements never written, "
                    f"{int(np.sum(count > 1))} written twice or more by the map"
                )
        return out

    def gather(
        self, grads: Mapping[str, np.ndarray | None], I: int, H: int,
        update: str = "standard", variant: str = "reset_after",
    ) -> GRUCellParams[np.ndarray]:  # fmt: skip
        """The canonical gradients from the target's parameter gradients by name (None: the
        output does not depend on it, zeros; so is ``b_hn`` of ``reset_after_no_bhn``)."""
        out = {n: np.zeros(_shape(n, I, H)) for n in GRU_PARAM_NAMES}
        for block, slot in self.slots:
            g = grads.get(slot.param)
            if g is None:
                continue
            value = np.array(slot.view(np.asarray(g, np.float64), I, H))
            if update == "complement" and block in _Z_BLOCKS:
                value = -value
            for n in _terms(block, variant):
                out[n] = value.copy()
        return GRUCellParams(**out)


def parse_param_map(value: Any) -> ParamMap:
    """A ``ParamMap`` from a mapping ``{block: "slot"}``, pairs, or the text
    ``"W_ir=r.weight[:, 0:I]; b_r=r.bias"`` (entries separated by ``;``)."""
    if isinstance(value, ParamMap):
        return value
    if isinstance(value, str):
        pairs = []
        for entry in (e for e in value.split(";") if e.strip()):
            key, eq, slot = entry.partition("=")
            if not eq:
                raise ValueError(
                    f"{entry.strip()!r} is not BLOCK=SLOT (e.g. W_ir=r.weight[:, 0:I])"
                )
            pairs.append((key.strip(), slot.strip()))
    elif isinstance(value, Mapping):
        pairs = [(str(k), v) for k, v in value.items()]
    else:
        pairs = [(str(k), v) for k, v in value]
    slots = []
    for key, slot in pairs:
        if key not in SLOT_NAMES:
            raise ValueError(f"unknown block {key!r}; expected {', '.join(SLOT_NAMES)}")
        slots.append((key, Slot.parse(slot)))
    if len({k for k, _ in slots}) != len(slots):
        raise ValueError("a block appears twice in the parameter map")
    return ParamMap(tuple(slots))


def param_map_text(pmap: ParamMap) -> str:
    """The text form ``parse_param_map`` reads back."""
    return "; ".join(f"{k}={s.text()}" for k, s in pmap.slots)


BiasForm = Literal["two", "one", "stacked", "none"]


def _bias_form(biases: Sequence[tuple[str, tuple[int, ...]]], H: int) -> BiasForm:
    shapes = [s for _, s in biases]
    if not shapes:
        return "none"
    if shapes == [(3 * H,), (3 * H,)]:
        return "two"
    if shapes == [(3 * H,)]:
        return "one"
    if shapes == [(2, 3 * H)]:
        return "stacked"
    raise LayoutError(f"biases of shapes {shapes} are not two (3H,), one (3H,) or one (2, 3H)")


def preset(
    layout: str, gate_order: str, params: Sequence[tuple[str, tuple[int, ...]]], I: int, H: int
) -> ParamMap:
    """The map of ``layout`` (``LAYOUTS``) with gates in ``gate_order``, binding the target's
    parameters ``params`` (name, shape; registration order): 2-D arrays are weights, the others
    biases, each in order. ``LayoutError`` when the parameters do not have that layout."""
    order = gate_order_value(gate_order)
    weights = [(n, s) for n, s in params if len(s) == 2]
    if len(weights) == 3 and weights[2][1] == (2, 3 * H):  # a stacked bias (2, 3H) comes last
        weights = weights[:2]
    biases = [(n, s) for n, s in params if (n, s) not in weights]
    entries: dict[str, str] = {}
    if layout == "concat":
        if [s for _, s in weights] != [(H, I + H)] * 3 or [s for _, s in biases] != [(H,)] * 3:
            raise LayoutError(f"concat needs three ({H}, {I + H}) weights and three ({H},) biases")
        for gate, (w, _), (b, _) in zip(order, weights, biases, strict=True):
            entries |= {f"W_i{gate}": f"{w}[:, 0:I]", f"W_h{gate}": f"{w}[:, I:I+H]"}
            entries[f"b_{gate}"] = b
        return parse_param_map(entries)
    t = {"fused": "", "transposed": ".T"}.get(layout)
    if t is None:
        raise LayoutError(f"unknown layout {layout!r}; expected one of {', '.join(LAYOUTS)}")
    want = [(3 * H, I), (3 * H, H)] if not t else [(I, 3 * H), (H, 3 * H)]
    if [s for _, s in weights] != want:
        raise LayoutError(f"{layout} needs weights of shapes {want}, the target has {weights}")
    form = _bias_form(biases, H)
    (wi, _), (wh, _) = weights
    for k, gate in enumerate(order):
        rows = f"{k}*H:{k + 1}*H"
        entries |= {f"W_i{gate}": f"{wi}{t}[{rows}]", f"W_h{gate}": f"{wh}{t}[{rows}]"}
        if form == "two":
            entries |= {
                f"b_i{gate}": f"{biases[0][0]}[{rows}]",
                f"b_h{gate}": f"{biases[1][0]}[{rows}]",
            }
        elif form == "stacked":
            b = biases[0][0]
            entries |= {f"b_i{gate}": f"{b}[0, {rows}]", f"b_h{gate}": f"{b}[1, {rows}]"}
        elif form == "one":
            entries[f"b_{gate}"] = f"{biases[0][0]}[{rows}]"
    if form == "none":
        raise LayoutError("the target has no biases (a bias-free GRU is not a hand-written layout)")
    return parse_param_map(entries)


def _gate_of_bias(
    params: Sequence[tuple[str, tuple[int, ...]]], weights: Mapping[str, str], bias: str
) -> str | None:
    """The gate of the last weight registered before ``bias`` (None: no weight before it)."""
    gate = None
    for name, _ in params:
        if name == bias:
            return gate
        gate = weights.get(name, gate)
    return None


def _per_gate_biases(
    params: Sequence[tuple[str, tuple[int, ...]]],
    weights: Mapping[str, str],
    order: str,
    H: int,
) -> dict[str, str] | None:
    """The bias entries of a per-gate layout: each bias belongs to the gate of the weight
    registered just before it (two per gate: input then recurrent; one: the folded sum), else
    biases in registration order are the gates in ``order`` (inputs first when six)."""
    biases = [n for n, s in params if s == (H,)]
    if len(biases) not in (3, 6):
        return None
    per = len(biases) // 3
    groups: dict[str, list[str]] = {g: [] for g in "rzn"}
    for b in biases:
        gate = _gate_of_bias(params, weights, b)
        if gate is not None:
            groups[gate].append(b)
    if any(len(v) != per for v in groups.values()):
        groups = {g: biases[k::3] if per == 2 else [biases[k]] for k, g in enumerate(order)}
    if per == 1:
        return {f"b_{g}": v[0] for g, v in groups.items()}
    return {f"b_{io}{g}": v[k] for g, v in groups.items() for k, io in enumerate("ih")}


def per_gate_maps(
    params: Sequence[tuple[str, tuple[int, ...]]],
    I: int,
    H: int,
    gate_order: str,
) -> list[ParamMap]:
    """Candidate maps of a GRU with a matrix per gate and its own names, read off one build with
    ``I != H``: three input matrices ``(H, I)`` (or ``(I, H)``, stored transposed) and three
    recurrent ``(H, H)`` (as stored, or transposed: both are candidates), each kind registered in
    ``gate_order``, and three or six biases ``(H,)`` (see ``_per_gate_biases``). The maps name
    the parameters, so they hold for every size. Empty when the parameters are not of that form."""
    order = gate_order_value(gate_order)
    if I == H:
        raise ValueError("per_gate_maps needs a build with input_size != hidden_size")
    inputs = [(n, "" if s == (H, I) else ".T") for n, s in params if s in ((H, I), (I, H))]
    recurrent = [n for n, s in params if s == (H, H)]
    known = {n for n, _ in inputs} | set(recurrent) | {n for n, s in params if s == (H,)}
    if len(inputs) != 3 or len(recurrent) != 3 or known != {n for n, _ in params}:
        return []
    weights = {n: g for (n, _), g in zip(inputs, order, strict=True)}
    weights |= dict(zip(recurrent, order, strict=True))
    biases = _per_gate_biases(params, weights, order, H)
    if biases is None:
        return []
    maps = []
    for t in ("", ".T"):
        entries = {f"W_i{g}": f"{n}{tr}" for (n, tr), g in zip(inputs, order, strict=True)}
        entries |= {f"W_h{g}": f"{n}{t}" for n, g in zip(recurrent, order, strict=True)}
        maps.append(parse_param_map({**entries, **biases}))
    return maps
