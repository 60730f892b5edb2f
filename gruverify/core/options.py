"""Options defined once: a field of a frozen dataclass carries everything every front end needs.

gruverify has two groups of options: what the user *declares about a target*
(``gruverify.targets.declaration.Declaration``: the calling convention, the declared arithmetic,
...), which travels with the target to a worker process, a counterexample file and a reproduce
line; and what the user *asks of a run* (``gruverify.conformance.options.RunOptions``: device,
dtype, profile, seed, checks, sizes, isolation, time limits, strictness, acknowledged findings).
Each is a frozen dataclass whose fields are made with ``option(...)``: the field's name, type and
default are the Python API's (``run_checks``, ``conformance_tests``); the ``Option`` in its
metadata says how a user writes it and what it means. Every front end is derived from that one
definition:

==================  ==================================================================
front end           name of the field ``max_hidden`` (``Option.flag`` may rename the CLI's)
==================  ==================================================================
``gruverify check``  ``--max-hidden N`` (``cli_flag``)
pytest plugin       ``--gru-max-hidden N`` (``plugin_flag``; dest ``gru_max_hidden``)
settings            ``max_hidden = N`` in ``[tool.gruverify]`` (the field's name)
Python API          ``run_checks(..., max_hidden=N)``, ``conformance_tests(..., max_hidden=N)``
reproduce line      ``--max-hidden N`` when ``Option.reproduce`` and not the default
record              ``{"max_hidden": N}`` (``to_record`` / ``from_record``: JSON values)
==================  ==================================================================

One ``parse`` serves what a user writes on a command line (text) and in a TOML file (a TOML
value); ``render`` is its inverse for a reproduce line. ``OptionError`` (a usage error) names the
option as the user wrote it (``where``). Adding an option is adding a field: the front ends, the
parity test (tests/test_options_parity.py) and the README's option table follow.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal, TypeVar

from gruverify.core.names import closest_name

__all__ = [
    "Option",
    "OptionError",
    "add_arguments",
    "cli_flag",
    "fields_of",
    "from_record",
    "given_values",
    "instances",
    "keyword_updates",
    "keyword_values",
    "option",
    "option_of",
    "parse_switch",
    "parse_text",
    "parse_user_value",
    "plugin_dest",
    "plugin_flag",
    "render_args",
    "to_record",
    "updated",
]

T = TypeVar("T")

Kind = Literal["value", "switch", "toggle", "repeat"]
"""How a command line writes an option: ``value`` (``--opt VALUE``), ``switch`` (``--opt``, a flag
that sets True), ``toggle`` (``--opt`` / ``--no-opt``), ``repeat`` (``--opt VALUE`` repeatable;
``parse`` takes the list of texts)."""


class OptionError(ValueError):
    """An option's value that cannot be used: one line naming the option as written."""


def _same(value: Any) -> Any:
    return value


def _text(value: Any) -> list[str]:
    return [str(value)]


@dataclasses.dataclass(frozen=True)
class Option:
    """How one field is written by users and what it means.

    ``parse``: a user's value (command-line text, a TOML value, a Python value) to the field's
    value, ``ValueError`` with the reason when it cannot be; for ``repeat`` options it takes a
    sequence. ``render``: the field's value as the words after the flag on a command line
    (``parse`` of them gives the value back). ``example``: a value other than the default, for the
    parity test and the docs. ``reproduce``: a reproduce line repeats it (it changes what is drawn
    or how it is judged). ``choices``: the names a value may take (a callable: some lists are only
    known once the catalogue is imported). ``toml``: parse of the settings file's value when it
    ``check``: the Python API's value to the field's value, where the API writes it otherwise
    than users do (``memory_limit``: bytes in Python, GiB on the command line and in settings);
    default ``parse``.
    """

    help: str
    example: Any
    parse: Callable[[Any], Any] = _same
    render: Callable[[Any], list[str]] = _text
    kind: Kind = "value"
    metavar: str | None = None
    choices: Callable[[], Sequence[str]] | None = None
    reproduce: bool = False
    flag: str | None = None
    check: Callable[[Any], Any] | None = None


def parse_switch(value: Any) -> bool:
    """An on/off option's value: a bool (a TOML ``true``), or the text ``true`` / ``false``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ValueError(f"must be true or false, got {value!r}")


def parse_text(value: Any) -> str:
    """A non-empty text (a path, a name)."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a non-empty text, got {value!r}")
    return value


def option(default: Any, spec: Option) -> Any:
    """A dataclass field with ``default`` and the ``Option`` that defines it."""
    if isinstance(default, (list, dict, set)):
        raise TypeError("option defaults must be immutable (a tuple, a mapping proxy or None)")
    return dataclasses.field(default=default, metadata={"option": spec})


def option_of(field: dataclasses.Field[Any]) -> Option:
    spec = field.metadata.get("option")
    if not isinstance(spec, Option):
        raise TypeError(f"field {field.name!r} is not an option (made with option())")
    return spec


def fields_of(cls: type) -> list[tuple[str, Option, Any]]:
    """``(name, Option, default)`` of each option of the dataclass ``cls``, in order."""
    return [(f.name, option_of(f), f.default) for f in dataclasses.fields(cls)]


def cli_flag(name: str, spec: Option) -> str:
    """The command line's flag: ``--max-hidden`` for ``max_hidden`` (or ``spec.flag``)."""
    return spec.flag or "--" + name.replace("_", "-")


def plugin_flag(name: str, spec: Option) -> str:
    """The pytest plugin's flag: the command line's with ``gru-``: ``--gru-max-hidden``."""
    return "--gru-" + cli_flag(name, spec)[2:]


def plugin_dest(name: str, spec: Option) -> str:
    """The pytest option's dest (``config.getoption``): ``gru_max_hidden``."""
    return plugin_flag(name, spec)[2:].replace("-", "_")


def parse_user_value(name: str, spec: Option, value: Any, where: str, *, api: bool = False) -> Any:
    """``spec.parse(value)`` (``spec.check`` for a Python value when ``api``); ``OptionError``
    naming ``where`` (e.g. ``--max-hidden``) and the reason when it cannot be used."""
    if value is None:
        return None
    choices = list(spec.choices()) if spec.choices is not None else None
    items = value if spec.kind == "repeat" and not isinstance(value, (str, Mapping)) else [value]
    for item in items:
        if choices is not None and isinstance(item, str) and item not in choices:
            close = closest_name(item, choices)
            suggestion = f"did you mean {close!r}?" if close else ""
            listed = f"expected one of {', '.join(choices)}"
            if close and len(choices) > 8:  # a long list: the suggestion alone
                hint = suggestion
            else:
                hint = listed + (f" ({suggestion})" if close else "")
            label = (name[:-1] if spec.kind == "repeat" else name).replace("_", " ")
            raise OptionError(f"{where}: unknown {label} {item!r}; {hint}")
    convert = spec.check if api and spec.check is not None else spec.parse
    try:
        return convert(value)
    except (ValueError, TypeError) as e:
        raise OptionError(f"{where}: {e}") from None


def keyword_updates(
    classes: Iterable[type], given: Mapping[str, Any], where: str
) -> dict[str, Any]:
    """Python keywords (``run_checks(**given)``) parsed and checked, by field name: each keyword
    is a field of one of ``classes``; ``TypeError`` for a keyword no class has (with the closest
    name), ``OptionError`` for a bad value."""
    classes = list(classes)
    names = {name: cls for cls in classes for name, _, _ in fields_of(cls)}
    for key in given:
        if key not in names:
            close = closest_name(key, list(names))
            hint = f"; did you mean {close!r}?" if close else ""
            raise TypeError(f"{where}() got an unexpected keyword argument {key!r}{hint}")
    specs = {name: spec for cls in classes for name, spec, _ in fields_of(cls)}
    return {
        name: parse_user_value(name, specs[name], value, f"{where}({name}=...)", api=True)
        for name, value in given.items()
    }


def keyword_values(classes: Iterable[type], given: Mapping[str, Any], where: str) -> list[Any]:
    """One instance of each of ``classes`` from Python keywords (``keyword_updates``)."""
    classes = list(classes)
    return instances(classes, keyword_updates(classes, given, where))


def updated(instance: T, values: Mapping[str, Any]) -> T:
    """``instance`` with the values of ``values`` that are its fields (parsed already)."""
    names = {name for name, _, _ in fields_of(type(instance))}
    return dataclasses.replace(instance, **{k: v for k, v in values.items() if k in names})  # type: ignore[type-var]


def instances(classes: Iterable[type], values: Mapping[str, Any]) -> list[Any]:
    """One instance of each of ``classes`` from values already parsed, each to the class that
    has the field (the others keep their defaults); ``KeyError`` for a name no class has."""
    classes = list(classes)
    known = {name for cls in classes for name, _, _ in fields_of(cls)}
    unknown = set(values) - known
    if unknown:
        raise KeyError(f"not an option: {', '.join(sorted(unknown))}")
    return [
        cls(**{name: values[name] for name, _, _ in fields_of(cls) if name in values})
        for cls in classes
    ]


def render_args(instance: Any, *, reproduce_only: bool = True) -> list[str]:
    """The command-line words that give ``instance``'s values that differ from the defaults (only
    the ``reproduce`` options when ``reproduce_only``), in definition order."""
    words: list[str] = []
    for name, spec, default in fields_of(type(instance)):
        value = getattr(instance, name)
        if value == default or value is None or (reproduce_only and not spec.reproduce):
            continue
        flag = cli_flag(name, spec)
        if spec.kind == "switch":
            words += [flag] if value else []
        elif spec.kind == "toggle":
            words.append(flag if value else "--no-" + flag[2:])
        elif spec.kind == "repeat":
            for item in spec.render(value):
                words += [flag, item]
        else:
            words += [flag, *spec.render(value)]
    return words


def to_record(instance: Any) -> dict[str, Any]:
    """The fields' values as JSON values (a counterexample file's, a worker message's)."""
    out: dict[str, Any] = {}
    for name, _, _ in fields_of(type(instance)):
        value = getattr(instance, name)
        out[name] = (
            dict(value)
            if isinstance(value, Mapping)
            else (list(value) if isinstance(value, tuple) else value)
        )
    return out


def from_record(cls: type[T], data: Mapping[str, Any], where: str = "record") -> T:
    """``cls`` from ``to_record``'s values (fields missing from ``data`` keep their defaults)."""
    values = {
        name: parse_user_value(name, spec, data[name], f"{where}: {name}", api=True)
        for name, spec, _ in fields_of(cls)
        if name in data
    }
    return cls(**values)


def _argument_type(name: str, spec: Option) -> Callable[[str], Any]:
    """argparse's ``type=`` for an option: its ``parse``, errors as argparse's (exit 2 with the
    flag's name)."""

    def convert(text: str) -> Any:
        try:
            return parse_user_value(name, spec, text, "")
        except OptionError as e:
            raise argparse.ArgumentTypeError(str(e).removeprefix(": ")) from None

    convert.__name__ = name
    return convert


def add_arguments(
    add: Callable[..., Any], classes: Iterable[type], *, plugin: bool = False,
    only: Sequence[str] = (),
) -> None:  # fmt: skip
    """Declare each option of ``classes`` (``only``: just those) with ``add``, an argparse
    ``add_argument`` or pytest's ``addoption``: the command line's flag (``plugin``: the pytest
    plugin's, ``--gru-...``), help, metavar, choices, repetition, all from the definition. Every
    default is None: an option not given leaves the settings' value."""
    for cls in classes:
        for name, spec, _ in fields_of(cls):
            if only and name not in only:
                continue
            dest = plugin_dest(name, spec) if plugin else name
            kw: dict[str, Any] = {"dest": dest, "default": None, "help": spec.help}
            if spec.kind == "switch":
                kw["action"] = "store_true"
            elif spec.kind == "toggle":
                kw["action"] = argparse.BooleanOptionalAction
            else:
                if spec.metavar or spec.choices is None:
                    kw["metavar"] = spec.metavar or name.upper()
                if spec.choices is not None and not (plugin and spec.kind == "repeat"):
                    kw["choices"] = list(spec.choices())  # the plugin checks repeats itself
                if spec.kind == "repeat":
                    kw["action"] = "append"
                elif spec.choices is None:
                    kw["type"] = _argument_type(name, spec)
            add(plugin_flag(name, spec) if plugin else cli_flag(name, spec), **kw)


def given_values(
    get: Callable[[str], Any], classes: Iterable[type], *, plugin: bool = False
) -> dict[str, Any]:
    """The options given on a command line declared by ``add_arguments`` (``get(dest)``: the
    parsed value, None when not given), by field name, parsed; ``OptionError`` for a bad value
    of a repeated option (argparse checked the others)."""
    values = {}
    for cls in classes:
        for name, spec, _ in fields_of(cls):
            value = get(plugin_dest(name, spec) if plugin else name)
            if value is None:
                continue
            if spec.kind == "repeat" or spec.choices is not None:
                flag = plugin_flag(name, spec) if plugin else cli_flag(name, spec)
                value = parse_user_value(name, spec, value, flag)
            values[name] = value
    return values
