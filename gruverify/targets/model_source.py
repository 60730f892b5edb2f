"""The model a file was made from (``--source``), matched to the file's GRUs and compared with them.

A source is ``package.module:attr`` naming a ``torch.nn.Module`` (or a callable returning one: the
trained model, an ``nn.GRU`` or a model containing ``nn.GRU`` submodules) or a Keras model (or a
callable returning one: its ``GRU`` layers, ``gruverify.targets.keras_file``), or another model
file.
``load_source`` lists its GRU layers in order: each layer ``l`` of each ``nn.GRU`` (in
``named_modules`` order) is one entry, named ``path.layer<l>``, because an exporter writes one ONNX
``GRU`` node per layer; an ``nn.GRU`` computes the reset-after variant.

``match_sources`` pairs the file's GRUs with the source's by order and shape (input size, hidden
size, directions), or as ``--match FILE_NODE=SOURCE_LAYER`` says (``Declaration.match``); a
different count or shape is a ``TargetError`` naming the first mismatch.

``differences(file, source)`` says whether the file's weights, biases and attributes are exactly
the source's under ONNX's layout (through ``gruverify.layouts``' exact converters) and, when not,
how they differ, in the words of the exporter bugs of docs/real-bugs.md:

* ``linear_before_reset`` flipped (the file computes the other variant);
* directions swapped (the forward cell holds the source's reverse cell and vice versa);
* gates permuted in ``W``, ``R`` or ``B`` (which gate blocks hold which of the source's);
* biases dropped (``B`` absent or zero where the source's are not) or folded (the sums
  ``Wb + Rb`` kept, split otherwise: harmless for z and r, a different GRU for the candidate in
  the reset-after variant, where ``r`` multiplies ``Rb_h`` only);
* weights rounded to a lower precision (equal to the source's rounded to float16 or bfloat16);
* otherwise the largest difference and where it is.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import itertools
from collections.abc import Mapping
from typing import Any

import numpy as np

from gruverify.core.params import GRUCellParams, Variant
from gruverify.layouts.onnx_layout import ONNX_GATE_ORDER, gru_to_onnx
from gruverify.targets.errors import TargetError

__all__ = ["SourceGRU", "differences", "load_source", "match_sources"]

_GATE_NAMES = {"z": "z (update)", "r": "r (reset)", "n": "h (candidate)"}


@dataclasses.dataclass(frozen=True)
class SourceGRU:
    """One GRU layer of the source: its name, cells (forward[, reverse]) and variant."""

    name: str
    cells: tuple[GRUCellParams[np.ndarray], ...]
    variant: Variant = "reset_after"

    @property
    def rows(self) -> tuple[tuple[GRUCellParams[np.ndarray], ...], ...]:
        """The cells per layer (one layer)."""
        return (self.cells,)

    def shape(self) -> str:
        c = self.cells[0]
        return f"input {c.input_size}, hidden {c.hidden_size}, {len(self.cells)} direction(s)"


def _import(spec: str) -> Any:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise TargetError(f"--source {spec!r}: expected package.module:attr or a model file")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except KeyboardInterrupt:
        raise
    except BaseException as e:
        detail = f"{type(e).__name__}: {e}".splitlines()[0]
        raise TargetError(f"--source {spec}: cannot import it ({detail})") from None
    return obj


def _torch_layers(module: Any, spec: str) -> list[SourceGRU]:
    import torch

    from gruverify.layouts.torch_layout import gru_from_torch, torch_state_dict

    out = []
    for path, sub in module.named_modules():
        if isinstance(sub, torch.nn.GRU):
            params = gru_from_torch(torch_state_dict(sub))
            for layer, row in enumerate(params.cells):
                out.append(SourceGRU(f"{path or 'gru'}.layer{layer}", tuple(row)))
    if not out:
        raise TargetError(f"--source {spec}: the model has no torch.nn.GRU submodule")
    return out


def _is_keras_model(obj: Any) -> bool:
    return type(obj).__module__.startswith("keras") and hasattr(obj, "layers")


def _model(obj: Any, spec: str) -> Any:
    """The torch module or Keras model ``obj`` is, or returns when called."""
    import torch

    if isinstance(obj, torch.nn.Module) or _is_keras_model(obj) or not callable(obj):
        return obj
    try:
        return obj()
    except Exception as e:
        detail = f"{type(e).__name__}: {e}".splitlines()[0]
        raise TargetError(f"--source {spec}: calling it failed ({detail})") from None


def load_source(spec: str, read_file: Any = None) -> list[SourceGRU]:
    """The source's GRU layers in order (module docstring). ``read_file(path)`` reads a model
    file's GRUs (``OnnxGRU`` / ``KerasGRU``) when the source is one."""
    if read_file is not None and ":" not in spec:
        return [layer for g in read_file(spec) for layer in _file_layers(g)]
    obj = _import(spec)
    try:
        import torch
    except ImportError:
        raise TargetError(f"--source {spec}: torch is not installed") from None
    obj = _model(obj, spec)
    if _is_keras_model(obj):
        from gruverify.targets.keras_file import read_keras_model_grus
        from gruverify.targets.keras_target import import_keras

        grus = read_keras_model_grus(obj, import_keras())
        return [SourceGRU(g.name, tuple(g.cells), g.variant) for g in grus]
    if not isinstance(obj, torch.nn.Module):
        raise TargetError(
            f"--source {spec} is a {type(obj).__name__}, not a torch.nn.Module, a Keras model or "
            "a callable returning one"
        )
    return _torch_layers(obj, spec)


def _file_layers(gru: Any) -> list[SourceGRU]:
    """A model file's GRU as source layers: one, or (a TorchScript submodule's or a
    ``torch.export`` program's several layers) one per layer, named ``NAME.layer<l>``."""
    rows = tuple(gru.rows)
    if len(rows) == 1:
        return [SourceGRU(gru.name, tuple(rows[0]), gru.variant)]
    return [SourceGRU(f"{gru.name}.layer{k}", tuple(r), gru.variant) for k, r in enumerate(rows)]


def _layer_shape(gru: Any, layer: int) -> str:
    """The shape of ``gru``'s layer ``layer`` as ``SourceGRU.shape`` writes it."""
    H, D = gru.hidden_size, gru.directions
    return f"input {gru.input_size if layer == 0 else D * H}, hidden {H}, {D} direction(s)"


def _named(gru: Any, wanted: str, by_name: dict[str, SourceGRU], spec: str) -> list[SourceGRU]:
    """The source layers ``--match NODE=LAYER[+LAYER...]`` names for ``gru``."""
    out = []
    for name in wanted.split("+"):
        if name not in by_name:
            close = difflib.get_close_matches(name, list(by_name), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise TargetError(
                f"--match {gru.name}={wanted}: --source {spec} has no GRU layer {name!r}; {hint}"
                f"its layers: {', '.join(by_name)}"
            )
        out.append(by_name[name])
    if len(out) != len(gru.rows):
        raise TargetError(
            f"--match {gru.name}={wanted}: GRU {gru.name!r} has {len(gru.rows)} layer(s), "
            f"{len(out)} named (join a multi-layer GRU's source layers with '+')"
        )
    return out


def _check_shapes(gru: Any, mine: tuple[SourceGRU, ...]) -> None:
    for layer, s in enumerate(mine):
        if _layer_shape(gru, layer) != s.shape():
            where = f"layer {layer} of " if len(gru.rows) > 1 else ""
            raise TargetError(
                f"{where}GRU {gru.name!r} ({_layer_shape(gru, layer)}) cannot be the source's "
                f"{s.name} ({s.shape()})"
            )


def match_sources(
    grus: list[Any],
    sources: list[SourceGRU],
    spec: str,
    pairs: Mapping[str, str] | None = None,
) -> list[tuple[SourceGRU, ...]]:
    """The source layers of each of the file's GRUs (one per layer the GRU holds): those
    ``pairs`` name (``--match NODE=LAYER``), the others by order among the layers left (as many
    as they need: a source layer may stay unpaired only when every GRU is named), and of the same
    shapes; ``TargetError`` when they cannot be paired."""
    pairs = dict(pairs or {})
    unknown = sorted(set(pairs) - {g.name for g in grus})
    if unknown:
        names = ", ".join(g.name for g in grus)
        raise TargetError(f"--match {unknown[0]}=...: no such GRU in the file; its GRUs: {names}")
    by_name = {s.name: s for s in sources}
    named = {g.name: _named(g, pairs[g.name], by_name, spec) for g in grus if g.name in pairs}
    used = {id(s) for layers in named.values() for s in layers}
    left = [s for s in sources if id(s) not in used]
    needed = sum(len(g.rows) for g in grus if g.name not in named)
    if needed and needed != len(left):
        raise TargetError(
            f"the file has {len(grus)} GRU(s) of {needed} layer(s) to match by order, --source "
            f"{spec} has {len(left)} GRU layer(s) left ({', '.join(s.name for s in left)}): they "
            "cannot be matched by order (--match FILE_NODE=SOURCE_LAYER pairs them)"
        )
    out, at = [], 0
    for g in grus:
        if g.name in named:
            mine = tuple(named[g.name])
        else:
            mine = tuple(left[at : at + len(g.rows)])
            at += len(g.rows)
        _check_shapes(g, mine)
        out.append(mine)
    return out


def _blocks(a: np.ndarray, H: int, n: int) -> list[np.ndarray]:
    return [a[k * H : (k + 1) * H] for k in range(n)]


def _permutation(
    file: np.ndarray, source: np.ndarray, H: int, n: int = 3
) -> tuple[int, ...] | None:
    """The permutation ``p`` with file block ``k`` == source block ``p[k]`` (None: none)."""
    fb, sb = _blocks(file, H, n), _blocks(source, H, n)
    for p in itertools.permutations(range(n)):
        if all(np.array_equal(fb[k], sb[p[k]]) for k in range(n)):
            return p
    return None


def _gates_permuted(name: str, d: str, p: tuple[int, ...]) -> str:
    moved = [
        f"block {k} ({_GATE_NAMES[ONNX_GATE_ORDER[k]]}) holds the source's "
        f"{_GATE_NAMES[ONNX_GATE_ORDER[p[k]]]}"
        for k in range(len(p)) if p[k] != k
    ]  # fmt: skip
    return f"gates permuted in {name}{d}: " + "; ".join(moved)


def _rounded(file: np.ndarray, source: np.ndarray) -> str | None:
    """The lower precision the file's values are the source's rounded to, or None."""
    import ml_dtypes

    for name, dtype in (("float16", np.float16), ("bfloat16", ml_dtypes.bfloat16)):
        if np.array_equal(file, source.astype(dtype).astype(np.float64)):
            return name
    return None


def _bias_difference(fb: np.ndarray, sb: np.ndarray, H: int, d: str, variant: str) -> str:
    if not np.any(fb) and np.any(sb):
        return (
            f"biases dropped{d}: B is absent or zero, the source's max |b| = {np.abs(sb).max():.3g}"
        )
    fsum, ssum = fb[: 3 * H] + fb[3 * H :], sb[: 3 * H] + sb[3 * H :]
    if np.allclose(fsum, ssum, rtol=1e-6, atol=1e-7):
        harmless = np.array_equal(fb[2 * H : 3 * H], sb[2 * H : 3 * H]) or variant == "reset_before"
        effect = (
            "the same GRU (only the z and r sums matter)" if harmless
            else "a different GRU: reset-after multiplies Rb_h by r, so Wb_h and Rb_h cannot be merged"
        )  # fmt: skip
        return f"biases folded{d}: Wb + Rb equal the source's sums, split otherwise ({effect})"
    p = _permutation(fb, sb, H, 6)
    if p is not None:
        return f"bias blocks permuted{d}: file block k holds source block {list(p)}"
    low = _rounded(fb, sb)
    if low is not None:
        return f"B{d} rounded to {low}"
    return _largest(f"B{d}", fb, sb)


def _largest(what: str, file: np.ndarray, source: np.ndarray) -> str:
    diff = np.abs(file - source)
    at = np.unravel_index(int(np.argmax(diff)), diff.shape)
    return f"{what} differs: max |file - source| = {float(diff[at]):.3g} at {tuple(int(i) for i in at)}"


def _tensor_difference(
    name: str, fa: np.ndarray, sa: np.ndarray, H: int, d: str, variant: str
) -> str | None:
    if np.array_equal(fa, sa):
        return None
    if name == "B":
        return _bias_difference(fa, sa, H, d, variant)
    p = _permutation(fa, sa, H)
    if p is not None:
        return _gates_permuted(name, d, p)
    low = _rounded(fa, sa)
    if low is not None:
        return f"{name}{d} rounded to {low}: equal to the source's values rounded to {low}"
    return _largest(f"{name}{d}", fa, sa)


def differences(file: Any, source: SourceGRU | tuple[SourceGRU, ...]) -> list[str]:
    """How the file's GRU differs from ``source`` (its source layer, or one per layer of a
    multi-layer GRU: ``file.rows``) under ONNX's layout; empty when its weights, biases and
    attributes are exactly the source's (module docstring)."""
    sources = source if isinstance(source, tuple) else (source,)
    if len(sources) == 1 and len(file.rows) == 1:
        return _layer_differences(file, sources[0])
    out = []
    for layer, (row, s) in enumerate(zip(file.rows, sources, strict=True)):
        mine = SourceGRU(f"{file.name}.layer{layer}", tuple(row), file.variant)
        out += [f"layer {layer}: {d}" for d in _layer_differences(mine, s)]
    return out


def _as_stored(file: Any, source: SourceGRU) -> SourceGRU:
    """The source's cells as the file's format holds them: its ``layout_form`` (the biases a
    format keeps as sums moved into ``b_i*``; none for ONNX and torch), rounded to float32 (what
    the files store)."""
    form = getattr(file, "layout_form", None)
    cells = tuple(form(c) if form is not None else c for c in source.cells)
    rounded = tuple(c.map(lambda v: np.asarray(v, np.float32).astype(np.float64)) for c in cells)
    return dataclasses.replace(source, cells=rounded)


def _collapsed(found: list[str]) -> list[str]:
    """Per-tensor "rounded to P" lines merged into one per precision."""
    rounded: dict[str, list[str]] = {}
    rest = []
    for line in found:
        what, sep, low = line.partition(" rounded to ")
        if sep:
            rounded.setdefault(low.split(":")[0], []).append(what)
        else:
            rest.append(line)
    merged = [
        f"weights rounded to {low}: {', '.join(names)} equal the source's values rounded to {low}"
        for low, names in rounded.items()
    ]
    return merged + rest


def _layer_differences(file: Any, source: SourceGRU) -> list[str]:
    """``differences`` for one layer (``file.cells``, ``file.variant``)."""
    source = _as_stored(file, source)
    out = []
    if file.variant != source.variant:
        lbr = {"reset_after": 1, "reset_before": 0}
        out.append(
            f"linear_before_reset flipped: the file has {lbr[file.variant]} ({file.variant}), the "
            f"source computes {source.variant} (linear_before_reset = {lbr[source.variant]})"
        )
    f_onnx = gru_to_onnx(list(file.cells), bias=True)
    s_onnx = gru_to_onnx(list(source.cells), bias=True)
    H = file.cells[0].hidden_size
    if len(file.cells) == 2 and not all(np.array_equal(f_onnx[k], s_onnx[k]) for k in f_onnx):
        swapped = {k: v[::-1] for k, v in f_onnx.items()}
        if all(np.array_equal(swapped[k], s_onnx[k]) for k in f_onnx):
            return [*out, "directions swapped: the forward cell holds the source's reverse cell"]
    names = ("forward", "reverse")
    for k in ("W", "R", "B"):
        for dir_index in range(len(file.cells)):
            d = f" (direction {names[dir_index]})" if len(file.cells) == 2 else ""
            found = _tensor_difference(
                k, f_onnx[k][dir_index], s_onnx[k][dir_index], H, d, source.variant
            )
            if found is not None:
                out.append(found)
    return _collapsed(out)
