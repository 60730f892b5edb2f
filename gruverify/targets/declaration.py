"""What the user declares about a target: one object that travels with the target everywhere.

A ``Declaration`` says how to call a target and how to judge its arithmetic, for targets that
cannot say it themselves (a built-in target, a library's class, a user's module named by
``module:attr``): whether it is shaped like ``torch.nn.GRUCell`` (``cell``), how far its
activations may be off (``activation_error``) and the format its products accumulate in
(``accumulator``), and for a model file which GRU to check (``node``), the model the file was
made from (``source``), which of its layers each GRU is (``match``) and the runtime an ONNX file
or OpenVINO IR runs on (``runtime``; ``gruverify.targets.model_files``). Its fields are options
(``gruverify.core.options``): the command line's ``--cell``, ``--activation-error``,
``--accumulator``, ``--node``, ``--source``, ``--match``, ``--runtime``; the settings' keys of the
same names (also per target, ``[tool.gruverify.target."NAME"]``); the plugin's ``--gru-*``; the
keywords of ``run_checks`` and ``conformance_tests``.

It goes with the target to every place the target is built or named: ``resolve_target`` builds with
it and applies it (``apply``: the declared arithmetic becomes the ``Implementation``'s attributes,
in place of its own declaration, which ``gruverify.error_model.arithmetic_of`` reads), a worker
process receives it in the build message (``to_record``), a counterexample file records it
(``recorded``: what the target declared, its class's or the run's) and ``gruverify reproduce``
declares it again (``of_record``), and a reproduce line repeats it (``options``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any

from gruverify.core.dtypes import DTYPES
from gruverify.core.options import (
    Option,
    from_record,
    option,
    parse_switch,
    parse_text,
    render_args,
    to_record,
)
from gruverify.core.params import ALL_VARIANTS
from gruverify.core.problem import Implementation
from gruverify.core.quantization import PRESETS, quantization_text, quantization_value
from gruverify.error_model import (
    accumulator_value,
    activation_error_value,
    declared_accumulator,
    declared_activation_error,
    declared_quantization,
)
from gruverify.layouts.param_map import (
    LAYOUTS,
    UPDATES,
    gate_order_value,
    param_map_text,
    parse_param_map,
)
from gruverify.targets.errors import TargetError

__all__ = ["ARITHMETIC_FIELDS", "CONVENTION_FIELDS", "RETURNS", "Declaration", "declaration_of"]


def _activation_error(value: Any) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ValueError(f"not a number: {value!r}") from None
    return activation_error_value(value)


def _quantization(value: Any) -> str:
    """A declared quantization in its short form (``core.quantization.quantization_text``)."""
    q = quantization_value(value)
    if q is None:
        raise ValueError(f"expected a preset ({', '.join(PRESETS)}) with ,key=value overrides")
    return quantization_text(q)


def _accumulator(value: Any) -> str:
    result = accumulator_value(value)
    if result is None:
        raise ValueError(f"expected a format: {', '.join(DTYPES)}")
    return result


def _pairs(
    value: Any, form: str, split: Callable[[str], tuple[str, str, str]]
) -> Mapping[str, str]:
    """A repeatable ``KEY=VALUE`` option's values: a mapping, or texts in ``form`` that ``split``
    cuts into ``(key, "=", value)``."""
    if isinstance(value, Mapping):
        return MappingProxyType({str(k): str(v) for k, v in value.items()})
    items = []
    for text in [value] if isinstance(value, str) else list(value):
        key, sep, val = split(str(text))
        if not sep or not key or not val:
            raise ValueError(f"expected {form}, got {text!r}")
        items.append((key, val))
    return MappingProxyType(dict(items))


def _match(value: Any) -> Mapping[str, str]:
    """``--match`` values: ``FILE_NODE=SOURCE_LAYER`` (a node's name may hold ``=``)."""
    return _pairs(value, "FILE_NODE=SOURCE_LAYER", lambda text: text.rpartition("="))


def _parameter_names(value: Any) -> Mapping[str, str]:
    """``--parameter-name`` values: ``NN_GRU_NAME=YOURS``, spaces around either name dropped."""

    def split(text: str) -> tuple[str, str, str]:
        key, sep, val = text.partition("=")
        return key.strip(), sep, val.strip()

    return _pairs(value, "NN_GRU_NAME=YOUR_NAME", split)


def _render_pairs(value: Mapping[str, str]) -> list[str]:
    return [f"{key}={val}" for key, val in value.items()]


_ONNX_RUNTIMES = ("onnxruntime", "onnx-reference", "openvino", "openvino-f32")
"""``gruverify.targets.onnx_file.ONNX_RUNTIMES`` (a test keeps the two equal; this module must not
import the ONNX reader)."""


def _runtime(value: Any) -> str:
    if value not in _ONNX_RUNTIMES:
        raise ValueError(f"expected one of {', '.join(_ONNX_RUNTIMES)}, got {value!r}")
    return str(value)


def _params(value: Any) -> tuple[tuple[str, str], ...]:
    """A parameter map (text ``"W_ir=r.weight[:, 0:I]; b_r=r.bias"``, a table, or pairs) as
    ``(block, slot)`` pairs, each checked (``gruverify.layouts.param_map``)."""
    pmap = parse_param_map(value)
    return tuple((k, slot.text()) for k, slot in pmap.slots)


def _render_params(value: Any) -> list[str]:
    return [param_map_text(parse_param_map(value))]


RETURNS = ("state", "pair", "outputs", "list")
"""What a declared target's forward returns: ``state`` (a cell's new state), ``pair`` (a layer's
``(output, h_n)``), ``outputs`` (a layer's outputs only: ``h_n`` is the last one), ``list`` (a
layer's list of per-step states)."""

CONVENTION_FIELDS = ("update", "gate_order", "layout", "params", "needs_h", "returns")
"""The fields that describe a hand-written torch module's conventions: declaring any builds it with
``gruverify.targets.own_gru.OwnGRUTarget`` (constructor ``(input_size, hidden_size)``)."""

ARITHMETIC_FIELDS = ("activation_error", "accumulator", "quantization")
"""The fields that are the target's declared arithmetic: ``apply`` sets them as its attributes."""


def _recorded_quantization(impl: Implementation) -> str | None:
    q = declared_quantization(impl)
    return None if q is None else quantization_text(q)


@dataclasses.dataclass(frozen=True)
class Declaration:
    """What the user declares about a target (None: the target's own declaration stands)."""

    cell: bool = option(False, Option(
        "TARGET is torch.nn.GRUCell-shaped (a module:attr target)", example=True,
        parse=parse_switch, kind="switch", reproduce=True,
    ))  # fmt: skip
    activation_error: float | None = option(None, Option(
        "the target's sigmoid and tanh values may be off by EPS (declared approximate "
        "activations; folded into the tolerances and printed)",
        example=1e-4, parse=_activation_error, render=lambda v: [repr(float(v))], metavar="EPS",
        reproduce=True,
    ))  # fmt: skip
    accumulator: str | None = option(None, Option(
        f"the target's matrix products accumulate in FORMAT ({', '.join(DTYPES)}): tighter "
        "tolerances for long products; declare only what you know (docs/checker.md)",
        example="float32", parse=_accumulator, metavar="FORMAT", choices=lambda: DTYPES,
        reproduce=True,
    ))  # fmt: skip
    quantization: str | None = option(None, Option(
        "the target's integer quantization: a preset (int8-dynamic, int8-dynamic-7bit, "
        "int8-dynamic-row, int8-weights) with optional ,key=value overrides (weights, "
        "weight_granularity, symmetric, activations, activation_granularity, reduce_range, "
        "min_step); the tolerances then include it (docs/error-model.md, Declared quantization)",
        example="int8-dynamic,reduce_range=true", parse=_quantization, metavar="SPEC",
        reproduce=True,
    ))  # fmt: skip
    node: str | None = option(None, Option(
        "check only the GRU named NAME of a model file (an ONNX node's name; default: every "
        "GRU of the file, one verdict each)", example="/gru/GRU", parse=parse_text, metavar="NAME",
        reproduce=True,
    ))  # fmt: skip
    source: str | None = option(None, Option(
        "the model a model file was made from (package.module:attr naming a torch module or a "
        "callable returning it, or another model file): the file's GRUs are matched to its "
        "nn.GRU layers by order and shape, compared with them, and checked against the "
        "reference with its weights (docs/model-files.md)",
        example="my_pkg.train:model", parse=parse_text, metavar="SOURCE", reproduce=True,
    ))  # fmt: skip
    match: Mapping[str, str] | None = option(None, Option(
        "pair a model file's GRU with its --source layer (repeatable; a multi-layer GRU's layers "
        "joined with '+'); the others are matched by order and shape",
        example=MappingProxyType({"/gru/GRU": "gru.layer0"}), parse=_match, render=_render_pairs,
        kind="repeat", metavar="FILE_NODE=SOURCE_LAYER", reproduce=True,
    ))  # fmt: skip
    runtime: str | None = option(None, Option(
        f"run a model file's GRUs on RUNTIME ({', '.join(_ONNX_RUNTIMES)}; default: onnxruntime "
        "for ONNX, openvino with the plugin's defaults for an OpenVINO IR)", example="openvino",
        parse=_runtime, metavar="RUNTIME",
        choices=lambda: _ONNX_RUNTIMES, reproduce=True,
    ))  # fmt: skip

    variant: str | None = option(None, Option(
        "the GRU variant the target computes: reset_after (torch), reset_before (Cho et al.), "
        "reset_after_no_bhn (reset-after without a recurrent candidate bias, flax nnx); wins over "
        "the class's gruverify_variant",
        example="reset_before", metavar="VARIANT", choices=lambda: ALL_VARIANTS, reproduce=True,
    ))  # fmt: skip
    update: str | None = option(None, Option(
        "the update convention: standard (h' = (1-z) n + z h, torch) or complement "
        "(h' = z n + (1-z) h, the course's Gamma_u); a hand-written torch module",
        example="complement", metavar="UPDATE", choices=lambda: UPDATES, reproduce=True,
    ))  # fmt: skip
    gate_order: str | None = option(None, Option(
        "the order of the gate blocks in fused matrices, a permutation of r, z, n (torch: rzn, "
        "Keras: zrn); a hand-written torch module with a layout preset",
        example="zrn", parse=gate_order_value, metavar="ORDER", reproduce=True,
    ))  # fmt: skip
    layout: str | None = option(None, Option(
        f"the parameter layout of a hand-written torch module ({', '.join(LAYOUTS)}; "
        "docs/adapters.md), its parameters bound in registration order",
        example="transposed", metavar="LAYOUT", choices=lambda: LAYOUTS, reproduce=True,
    ))  # fmt: skip
    params: tuple[tuple[str, str], ...] | None = option(None, Option(
        "the parameter map of a hand-written torch module: canonical block = its parameter "
        "[slice] (e.g. 'W_ir=r.weight[:, 0:I]; W_hr=r.weight[:, I:I+H]; b_r=r.bias'; "
        "docs/adapters.md); wins over the layout's entries",
        example=(("W_ir", "w.T[0:H]"), ("b_r", "b[0:H]")), parse=_params, render=_render_params,
        metavar="MAP", reproduce=True,
    ))  # fmt: skip
    parameter_names: Mapping[str, str] | None = option(None, Option(
        "a torch.nn.GRU-shaped module whose parameters are named otherwise: torch.nn.GRU's "
        "state-dict name = yours (repeatable; wins over the class's gruverify_parameter_names; "
        "docs/adapters.md)",
        example=MappingProxyType({"weight_hh_l0": "w_hh_l0"}), parse=_parameter_names,
        render=_render_pairs, kind="repeat", metavar="NN_GRU_NAME=YOURS", reproduce=True,
        flag="--parameter-name",
    ))  # fmt: skip
    needs_h: bool = option(False, Option(
        "the hand-written module's forward(x, h) requires h (zeros are passed for h0 = None)",
        example=True, parse=parse_switch, kind="switch", reproduce=True,
    ))  # fmt: skip
    returns: str | None = option(None, Option(
        "what the hand-written module's forward returns: state (a cell's h'), pair ((output, "
        "h_n)), outputs (outputs only: h_n is the last), list (per-step states)",
        example="outputs", metavar="WHAT", choices=lambda: RETURNS, reproduce=True,
    ))  # fmt: skip

    def conventions(self) -> bool:
        """True when it declares a hand-written torch module's conventions (``CONVENTION_FIELDS``)."""
        return any(getattr(self, k) not in (None, False) for k in CONVENTION_FIELDS)

    def attributes(self) -> dict[str, Any]:
        """The ``Implementation`` attributes this declaration sets (``arithmetic_of`` reads them)."""
        return {k: getattr(self, k) for k in ARITHMETIC_FIELDS if getattr(self, k) is not None}

    def apply(self, impls: Iterable[Implementation]) -> None:
        """Declare the arithmetic on every target of ``impls``; ``TargetError`` for one that cannot
        take an attribute."""
        for impl in impls:
            values = self.attributes()
            if self.variant is not None:
                values["variant"] = self.variant
            for name, value in values.items():
                try:
                    setattr(impl, name, value)
                except (AttributeError, TypeError) as e:
                    raise TargetError(
                        f"{impl.name}: cannot declare its {name.replace('_', ' ')} ({e}); give "
                        f"the Implementation an {name} attribute"
                    ) from None

    def options(self) -> list[str]:
        """The command-line options that declare it (none for an empty declaration)."""
        return render_args(self)

    def to_record(self) -> dict[str, Any]:
        """JSON values (a worker's build message): ``from_record`` reads them back."""
        return to_record(self)

    @staticmethod
    def from_record(data: Mapping[str, Any], where: str = "declaration") -> Declaration:
        return from_record(Declaration, data, where)

    def recorded(self, impl: Implementation) -> dict[str, Any]:
        """This declaration as a counterexample file records it: its fields, with the arithmetic
        ``impl`` declares (its class's or the run's: an activation error of 0 declares none)."""
        return {
            **self.to_record(),
            "activation_error": declared_activation_error(impl),
            "accumulator": declared_accumulator(impl),
            "quantization": _recorded_quantization(impl),
        }

    @staticmethod
    def of_record(data: Mapping[str, Any], where: str = "counterexample") -> Declaration:
        """The declaration a counterexample file recorded (``recorded``): an activation error of 0
        and a missing entry declare nothing (the target's own arithmetic stands). ``TargetError``
        (a usage error) for a value that cannot be used."""
        values = {**data, "activation_error": data.get("activation_error") or None}
        try:
            return Declaration.from_record(values, where)
        except ValueError as e:
            raise TargetError(str(e)) from None


def declaration_of(value: Declaration | bool | None) -> Declaration:
    """A ``Declaration`` from what the build functions take: itself, or the old ``cell`` flag."""
    if isinstance(value, Declaration):
        return value
    return Declaration(cell=bool(value))
