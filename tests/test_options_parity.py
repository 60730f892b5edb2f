"""Every option reaches every front end and survives every round trip (issue 19).

The options are defined once (``gruverify.targets.declaration.Declaration``: what the user
declares about the target; ``gruverify.conformance.options.RunOptions``: what the user asks of
the run). These tests walk those definitions, so a new field is covered without editing them:
for each field and its ``Option.example`` (a value other than the default),

- the command line (``gruverify check --flag VALUE``), the pytest plugin (``--gru-flag VALUE``),
  ``[tool.gruverify]`` (a top-level key and a per-target table) and the Python API
  (``run_checks(**{field: example})``, ``conformance_tests(...)``) each give the field that value;
- ``run_checks`` puts it in the report (``declaration`` / ``options`` of the JSON);
- a reproduce line repeats every ``reproduce`` option, and parsing it gives the values back;
- a counterexample file records the declaration and ``gruverify reproduce`` reads it back;
- a worker process builds its target with the declaration it was sent;
- the settings file, read by the plugin, gives the session the value;
- the README's option table is the one generated from the definitions.
"""

from __future__ import annotations

import json
import pathlib
import shlex
import sys
from collections.abc import Mapping
from typing import Any

import pytest

from gruverify.cli import build_parser
from gruverify.conformance.config import settings_from
from gruverify.conformance.options import (
    OPTION_CLASSES,
    RunOptions,
    options_table,
    reproduce_command,
    run_keywords,
)
from gruverify.conformance.runner import run_checks
from gruverify.core.options import (
    Option,
    add_arguments,
    cli_flag,
    fields_of,
    given_values,
    instances,
    plugin_flag,
    render_args,
    to_record,
)
from gruverify.targets.declaration import Declaration

REPO = pathlib.Path(__file__).resolve().parents[1]

FIELDS = [(cls, name, spec) for cls in OPTION_CLASSES for name, spec, _ in fields_of(cls)]
IDS = [name for _, name, _ in FIELDS]

EXAMPLES_HERE = {"python": sys.executable, "artifacts": None}
"""Examples that must be of this machine (a Python that has gruverify); ``artifacts`` is the
test's temporary directory."""


def example(name: str, spec: Option, tmp_path: pathlib.Path | None = None) -> Any:
    if name == "artifacts" and tmp_path is not None:
        return str(tmp_path / "ce")
    return EXAMPLES_HERE.get(name) or spec.example


def plain(value: Any) -> Any:
    """A value as JSON has it (mappings as dicts, tuples as lists)."""
    return json.loads(json.dumps(dict(value) if isinstance(value, Mapping) else value))


def words(cls: type, name: str, value: Any) -> list[str]:
    """The command-line words that set ``name`` to ``value``."""
    return render_args(cls(**{name: value}), reproduce_only=False)


def test_every_field_is_an_option_with_a_non_default_example() -> None:
    names = [name for _, name, _ in FIELDS]
    assert len(names) == len(set(names)), "a field name in both Declaration and RunOptions"
    for cls, name, spec in FIELDS:
        default = next(d for n, _, d in fields_of(cls) if n == name)
        assert spec.example != default and spec.help, name


@pytest.mark.parametrize(("cls", "name", "spec"), FIELDS, ids=IDS)
def test_the_command_line(cls: type, name: str, spec: Option) -> None:
    value = example(name, spec)
    args = build_parser().parse_args(["check", "t", *words(cls, name, value)])
    given = given_values(vars(args).get, OPTION_CLASSES)
    assert list(given) == [name] and plain(given[name]) == plain(value), given


class _Group:
    """pytest's option group, as argparse (the plugin's options are argparse's underneath)."""

    def __init__(self) -> None:
        import argparse

        self.parser = argparse.ArgumentParser()
        self.addoption = self.parser.add_argument


class _PytestParser:
    def __init__(self) -> None:
        self.group = _Group()

    def getgroup(self, *args: Any) -> _Group:
        return self.group

    def addini(self, *args: Any, **kwargs: Any) -> None:
        pass


@pytest.mark.parametrize(("cls", "name", "spec"), FIELDS, ids=IDS)
def test_the_pytest_plugin(cls: type, name: str, spec: Option) -> None:
    from gruverify.pytest_plugin import pytest_addoption

    parser = _PytestParser()
    pytest_addoption(parser)  # type: ignore[arg-type]
    flag, gru = cli_flag(name, spec), plugin_flag(name, spec)
    assert gru in parser.group.parser._option_string_actions, gru
    plugin_words = [
        w.replace(flag, gru).replace("--no-" + flag[2:], "--no-" + gru[2:])
        for w in words(cls, name, example(name, spec))
    ]
    args = parser.group.parser.parse_args(plugin_words)
    given = given_values(vars(args).get, OPTION_CLASSES, plugin=True)
    assert list(given) == [name] and plain(given[name]) == plain(example(name, spec)), given


def toml_value(name: str, spec: Option) -> Any:
    """The example as a ``[tool.gruverify]`` value: the command line's text as a TOML literal
    (a number or a string), a list for a repeated option, tables for acknowledgements."""
    value = example(name, spec)
    if name in ("xfail", "ignore"):
        return [{"check": c, "reason": r} for c, r in value.items()]
    texts = spec.render(value)
    if spec.kind in ("switch", "toggle"):
        return bool(value)

    def literal(text: str) -> Any:
        try:
            return json.loads(text)
        except ValueError:
            return text

    return [literal(t) for t in texts] if spec.kind == "repeat" else literal(texts[0])


@pytest.mark.parametrize(("cls", "name", "spec"), FIELDS, ids=IDS)
def test_the_settings_file_top_level_and_per_target(cls: type, name: str, spec: Option) -> None:
    value = toml_value(name, spec)
    settings = settings_from({name: value}, "pyproject.toml [tool.gruverify]")
    assert plain(settings.for_target("torch-gru")[name]) == plain(example(name, spec))
    if name in ("xfail", "ignore"):
        return  # acknowledgements name their target in each table
    settings = settings_from({"target": {"torch-gru": {name: value}}}, "pyproject.toml")
    assert plain(settings.for_target("torch-gru")[name]) == plain(example(name, spec))
    assert name not in settings.for_target("numpy-reference")


@pytest.mark.parametrize(("cls", "name", "spec"), FIELDS, ids=IDS)
def test_the_plugin_reads_the_settings_file(cls: type, name: str, spec: Option) -> None:
    from gruverify import pytest_plugin

    saved = dict(pytest_plugin._SESSION)
    try:
        pytest_plugin._SESSION.clear()
        pytest_plugin._SESSION["settings"] = settings_from({name: toml_value(name, spec)}, "f")
        objects = pytest_plugin._options("torch-gru", {})
        obj = next(o for o in objects if isinstance(o, cls))
        assert plain(getattr(obj, name)) == plain(example(name, spec))
    finally:
        pytest_plugin._SESSION.clear()
        pytest_plugin._SESSION.update(saved)


@pytest.mark.parametrize(("cls", "name", "spec"), FIELDS, ids=IDS)
def test_the_python_api_reaches_the_report(
    cls: type, name: str, spec: Option, tmp_path: pathlib.Path
) -> None:
    """``run_checks(**{name: example})`` runs with it: the report's record says so."""
    from gruverify.pytest_plugin import conformance_tests

    value = example(name, spec, tmp_path)
    conformance_tests("torch-gru", **{name: value})  # accepted, checked
    declaration, run = run_keywords({name: value}, "run_checks")
    assert plain(getattr(declaration if cls is Declaration else run, name)) == plain(value)
    base = {"checks": ["determinism"], "profile": "quick", "seed": 1}
    report = run_checks("numpy-reference", **{**base, name: value})
    record = report.declaration if cls is Declaration else report.options
    assert plain(record[name]) == plain(value), record


def test_an_unknown_keyword_is_a_type_error_with_the_closest_name() -> None:
    with pytest.raises(TypeError, match="'max_hiden'; did you mean 'max_hidden'"):
        run_checks("numpy-reference", max_hiden=3)


def all_examples(tmp_path: pathlib.Path) -> tuple[Declaration, RunOptions]:
    values = {name: example(name, spec, tmp_path) for _, name, spec in FIELDS}
    declaration, run = instances(OPTION_CLASSES, values)
    return declaration, run


def test_a_reproduce_line_repeats_every_reproduce_option(tmp_path: pathlib.Path) -> None:
    """CLI -> report -> reproduce: the line parses back to the same values for every option that
    changes what is drawn or how it is judged."""
    declaration, run = all_examples(tmp_path)
    line = reproduce_command("pkg.mod:My GRU", declaration, run, dtype="float64", seed=5,
                             check="forward[basic]")  # fmt: skip
    args = build_parser().parse_args(shlex.split(line)[1:])
    given = given_values(vars(args).get, OPTION_CLASSES)
    assert args.target == "pkg.mod:My GRU" and given.pop("checks") == ("forward[basic]",)
    expected = {
        name: getattr(obj, name)
        for obj in (declaration, run)
        for name, spec, _ in fields_of(type(obj))
        if spec.reproduce
    }
    expected.update(dtype="float64", seed=5)
    assert {k: plain(v) for k, v in given.items()} == {k: plain(v) for k, v in expected.items()}


def test_a_counterexample_file_records_the_declaration(tmp_path: pathlib.Path) -> None:
    """A failing check's file records every declaration field (as the runner saves it);
    ``gruverify reproduce`` reads the same declaration back."""
    from gruverify.conformance.cases import CheckCase
    from gruverify.conformance.checks import CHECKS
    from gruverify.conformance.counterexample import read_counterexample
    from gruverify.conformance.replay import save_counterexample
    from gruverify.reference.implementations import NumpyReference
    from gruverify.strategies import Config

    declaration, _ = all_examples(tmp_path)
    impl = NumpyReference()
    declaration.apply([impl])
    path = save_counterexample(
        str(tmp_path), check=CHECKS[0], impl=impl, case=CheckCase(Config(2, 1, 2, 2), "ordinary", "ordinary", 3), seed=3,
        profile="quick", counterexample={}, spec={"target": "m:G", "declaration": declaration},
    )  # fmt: skip
    data = read_counterexample(path)
    assert Declaration.of_record(data) == declaration


def test_a_worker_builds_with_the_declaration_it_is_sent(tmp_path: pathlib.Path) -> None:
    from gruverify.guard import CallLimits
    from gruverify.isolation.client import build_isolated, close_all

    declaration, _ = all_examples(tmp_path)
    impl = build_isolated("numpy-reference", "cpu", None, declaration, limits=CallLimits())
    try:
        assert impl.declaration_seen == to_record(declaration)
        assert impl.accumulator == declaration.accumulator  # type: ignore[attr-defined]
    finally:
        close_all([impl])


def test_the_readme_lists_every_option_as_defined() -> None:
    """The README's option table is generated (``gruverify options --write README.md``)."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    begin, end = "<!-- options:begin -->\n", "\n<!-- options:end -->"
    assert begin in text and end in text, "README.md lacks the generated options table"
    table = text.split(begin, 1)[1].split(end, 1)[0]
    assert table == options_table(), (
        "README.md's options table is stale: gruverify options --write README.md"
    )


def test_add_arguments_can_be_restricted() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    add_arguments(parser.add_argument, [RunOptions], only=("timeout",))
    assert [a.dest for a in parser._actions if a.dest != "help"] == ["timeout"]


def test_the_plugin_caches_a_target_built_with_every_declaration_field(
    tmp_path: pathlib.Path,
) -> None:
    """The plugin keys its cache of built targets by the declaration: a mapping field (``match``)
    must not make the key unhashable."""
    from gruverify import pytest_plugin

    declaration, run = all_examples(tmp_path)
    saved = dict(pytest_plugin._CACHE)
    try:
        first = pytest_plugin._impl("numpy-reference", "cpu", declaration, run)
        again = pytest_plugin._impl("numpy-reference", "cpu", declaration, run)
        assert first is again
    finally:
        pytest_plugin._CACHE.clear()
        pytest_plugin._CACHE.update(saved)


def test_the_readme_table_is_written_between_its_markers(tmp_path: pathlib.Path) -> None:
    """``gruverify options --write FILE`` replaces what lies between the two marker lines, keeps
    the rest, says whether it changed, and refuses a file without them."""
    from gruverify.conformance.options import options_table, write_readme_table

    path = tmp_path / "README.md"
    path.write_text("top\n<!-- options:begin -->\nold\n<!-- options:end -->\nbottom\n")
    assert write_readme_table(str(path)) is True
    assert path.read_text() == (
        f"top\n<!-- options:begin -->\n{options_table()}\n<!-- options:end -->\nbottom\n"
    )
    assert write_readme_table(str(path)) is False
    # only the first table is the options': a second pair of markers further down (an example
    # of them in the docs) is text like any other, kept as it is
    second = "\n<!-- options:begin -->\nexample\n<!-- options:end -->\n"
    path.write_text("top\n<!-- options:begin -->\nold\n<!-- options:end -->\n" + second)
    assert write_readme_table(str(path)) is True
    assert path.read_text() == (
        f"top\n<!-- options:begin -->\n{options_table()}\n<!-- options:end -->\n{second}"
    )
    path.write_text("no markers\n")
    with pytest.raises(
        ValueError, match=r"no <!-- options:begin --> \.\.\. <!-- options:end --> lines"
    ):
        write_readme_table(str(path))


def test_option_values_are_checked_at_their_edges() -> None:
    """The parsers behind the options: a count is at least 1 (1 itself is fine), a timeout
    positive seconds, each refusal naming what it wanted."""
    from gruverify.conformance.options import _positive, _seconds

    assert _positive(1) == 1 and _positive("3") == 3
    with pytest.raises(ValueError, match=r"must be at least 1, got 0"):
        _positive(0)
    assert _seconds("0.5") == 0.5
    for bad, says in (("soon", "not a number of seconds: 'soon'"), (True, "not a number of "
                      "seconds: True"), (0, "the timeout must be positive seconds, got 0"),
                      (float("inf"), "the timeout must be positive seconds, got inf")):  # fmt: skip
        with pytest.raises(ValueError) as e:
            _seconds(bad)
        assert str(e.value) == says
