"""The package's architecture (issue 10), enforced by reading ``gruverify/`` with ``ast``.

Rules (docs/architecture.md explains the layers):

(a) layers import only downward: ``LAYERS`` lists them lowest first; a module may import its own
    layer and the layers before it. ``APART`` lists the modules that stand beside the stack: each may
    import only the layers it names and is imported only by the modules it names (``analysis`` only
    by ``gruverify.cli``, for ``gruverify vanishing``; ``zoo`` and ``interface`` by nothing in the
    package). The package's own ``__init__`` is the top: it may name anything, nothing imports it;
(b) no import circle between gruverify modules, counting every import: at module level, inside a
    function (a lazy import that closes a circle still ties the two modules both ways) and under
    ``TYPE_CHECKING``;
(c) no module uses another module's private name: no ``from gruverify.x import _name`` and no
    ``module._name`` on an imported gruverify module (dunders such as ``__version__`` are public);
(d) no function or method in ``gruverify/`` is longer than ``MAX_FUNCTION_LINES`` lines, counted from
    its ``def`` line to its last line;
(e) no file of the repository (tracked, or untracked and not ignored) refers to the team's private
    notes (``FORBIDDEN_TEXT``): users do not have them; the docs carry what they need.

Each rule is a function from parsed sources to a list of violations; the ``test_rule_*_can_fail``
tests feed each one a small synthetic package with a planted violation.
"""

from __future__ import annotations

import ast
import dataclasses
import subprocess
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "gruverify"

#: The layers, lowest first: a module may import its own layer and every layer listed before it.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"core"}),
    frozenset({"reference"}),
    frozenset({"layouts"}),
    frozenset({"error_model"}),
    frozenset({"strategies", "profiles"}),
    frozenset({"laws"}),
    frozenset({"guard"}),
    frozenset({"targets"}),
    frozenset({"isolation"}),
    frozenset({"conformance"}),
    frozenset({"cli", "pytest_plugin"}),
    frozenset({"__main__"}),
)

_BELOW_CLI: frozenset[str] = frozenset().union(*LAYERS[:-2])


@dataclasses.dataclass(frozen=True)
class Apart:
    """A part beside the stack: the layers it may import and the modules that may import it."""

    may_import: frozenset[str]
    imported_by: frozenset[str]


#: analysis/ (the vanishing study) and zoo/ (planted bugs) use the stack but nothing in it uses
#: them, except the CLI's ``vanishing`` subcommand; interface.py is the adapter writers' face of
#: core/, and gruverify's own modules import core/ directly.
APART: dict[str, Apart] = {
    "analysis": Apart(_BELOW_CLI, frozenset({"gruverify.cli"})),
    "zoo": Apart(_BELOW_CLI, frozenset()),
    "interface": Apart(frozenset({"core"}), frozenset()),
}

MAX_FUNCTION_LINES = 80

#: Text no file may contain (built in pieces so that this file does not contain it either).
FORBIDDEN_TEXT: tuple[str, ...] = ("../" + "shared", "shared" + "/notes")


# ---------------------------------------------------------------------------------------------
# Reading the package.


@dataclasses.dataclass(frozen=True)
class Module:
    name: str
    path: str
    is_package: bool
    tree: ast.Module


@dataclasses.dataclass(frozen=True)
class Import:
    """One import in ``source``: the module it loads, the names it takes from it, where it is."""

    source: str
    target: str
    names: tuple[str, ...]
    line: int


def parse_sources(sources: Mapping[str, str]) -> dict[str, Module]:
    """``{"gruverify/laws/gates.py": source, ...}`` -> modules by dotted name."""
    modules = {}
    for path, text in sources.items():
        parts = list(Path(path).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        name = ".".join(parts)
        modules[name] = Module(name, path, is_package, ast.parse(text, filename=path))
    return modules


def package_sources(root: Path = REPO) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted((root / PACKAGE).rglob("*.py"))
    }


def _resolve_from(module: Module, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.name.split(".")
    if not module.is_package:
        base.pop()
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(modules: Mapping[str, Module]) -> Iterator[Import]:
    """Every import of a gruverify module, wherever it stands (module level, function, if-block).

    ``from P import m`` where ``P.m`` is a module counts as an import of ``P.m``.
    """
    for module in modules.values():
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == PACKAGE:
                        yield Import(module.name, alias.name, (), node.lineno)
            elif isinstance(node, ast.ImportFrom):
                target = _resolve_from(module, node)
                if target.split(".")[0] != PACKAGE:
                    continue
                names = []
                for alias in node.names:
                    if f"{target}.{alias.name}" in modules:
                        yield Import(module.name, f"{target}.{alias.name}", (), node.lineno)
                    else:
                        names.append(alias.name)
                if names:
                    yield Import(module.name, target, tuple(names), node.lineno)


def _layer(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else ""


def _rank(layer: str) -> int | None:
    for rank, members in enumerate(LAYERS):
        if layer in members:
            return rank
    return None


def _where(modules: Mapping[str, Module], imp: Import) -> str:
    return f"{modules[imp.source].path}:{imp.line}: {imp.source} imports {imp.target}"


# ---------------------------------------------------------------------------------------------
# The rules.


def _layer_problem(src: str, tgt: str, source_module: str) -> str | None:
    """Why ``src``-layer code may not import ``tgt``-layer code, or None when it may."""
    if src == tgt or src == "":
        return None
    if tgt == "":
        return "nothing inside the package imports its top-level __init__"
    if tgt in APART:
        if source_module in APART[tgt].imported_by:
            return None
        return f"{tgt} stands apart and may be imported only by {sorted(APART[tgt].imported_by)}"
    if src in APART:
        if tgt in APART[src].may_import:
            return None
        return f"{src} may import only {sorted(APART[src].may_import)}"
    rank_src, rank_tgt = _rank(src), _rank(tgt)
    if rank_src is None or rank_tgt is None:
        unknown = src if rank_src is None else tgt
        return f"layer {unknown!r} is in neither LAYERS nor APART: place it in the architecture"
    if rank_tgt > rank_src:
        return f"layer {src} may not import {tgt}, a higher layer"
    if rank_tgt == rank_src:
        return f"{src} and {tgt} are separate parts of one layer and may not import each other"
    return None


def layer_violations(modules: Mapping[str, Module]) -> list[str]:
    out = []
    for imp in imports_of(modules):
        problem = _layer_problem(_layer(imp.source), _layer(imp.target), imp.source)
        if problem:
            out.append(f"{_where(modules, imp)}: {problem}")
    for name in modules:
        layer = _layer(name)
        if layer and layer not in APART and _rank(layer) is None:
            out.append(f"{modules[name].path}: layer {layer!r} is in neither LAYERS nor APART")
    return sorted(set(out))


def _strongly_connected(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative; components in no particular order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return components


def cycle_violations(modules: Mapping[str, Module]) -> list[str]:
    graph: dict[str, set[str]] = {name: set() for name in modules}
    where: dict[tuple[str, str], Import] = {}
    for imp in imports_of(modules):
        if imp.target in modules:
            graph[imp.source].add(imp.target)
            where.setdefault((imp.source, imp.target), imp)
    out = []
    for component in _strongly_connected(graph):
        members = set(component)
        if len(component) == 1 and component[0] not in graph[component[0]]:
            continue
        edges = [
            _where(modules, where[(a, b)]) for a in component for b in sorted(graph[a] & members)
        ]
        out.append("import circle among " + ", ".join(component) + ":\n    " + "\n    ".join(edges))
    return sorted(out)


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _module_aliases(module: Module, modules: Mapping[str, Module]) -> dict[str, str]:
    """Local names bound to gruverify modules: ``import gruverify.x as m``, ``from p import m``."""
    aliases = {}
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE:
                    local = alias.asname or alias.name.split(".")[0]
                    aliases[local] = alias.name if alias.asname else PACKAGE
        elif isinstance(node, ast.ImportFrom):
            target = _resolve_from(module, node)
            for alias in node.names:
                if f"{target}.{alias.name}" in modules:
                    aliases[alias.asname or alias.name] = f"{target}.{alias.name}"
    return aliases


def private_violations(modules: Mapping[str, Module]) -> list[str]:
    out = []
    for imp in imports_of(modules):
        for name in imp.names:
            if _private(name) and imp.target != imp.source:
                out.append(f"{_where(modules, imp)}: takes the private name {name}")
        if any(_private(part) for part in imp.target.split(".")[1:]) and (
            imp.target.rsplit(".", 1)[0] != imp.source.rsplit(".", 1)[0]
        ):
            out.append(f"{_where(modules, imp)}: a private module of another package")
    for module in modules.values():
        aliases = _module_aliases(module, modules)
        for node in ast.walk(module.tree):
            if not (isinstance(node, ast.Attribute) and _private(node.attr)):
                continue
            chain = []
            value: ast.expr = node.value
            while isinstance(value, ast.Attribute):
                chain.append(value.attr)
                value = value.value
            if isinstance(value, ast.Name) and value.id in aliases:
                owner = ".".join([aliases[value.id], *reversed(chain)])
                if owner != module.name:
                    out.append(
                        f"{module.path}:{node.lineno}: {module.name} uses {owner}.{node.attr}, "
                        "a private name of another module"
                    )
    return sorted(set(out))


def long_functions(modules: Mapping[str, Module], limit: int = MAX_FUNCTION_LINES) -> list[str]:
    out = []
    for module in modules.values():
        for node in ast.walk(module.tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > limit:
                    out.append(f"{module.path}:{node.lineno}: {node.name} is {length} lines")
    return sorted(out)


def repository_files(root: Path = REPO) -> list[Path]:
    """Tracked files and untracked files git does not ignore."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [root / p for p in listing.split("\0") if p and (root / p).is_file()]


def forbidden_text(files: Iterable[tuple[str, bytes]]) -> list[str]:
    out = []
    for path, data in files:
        for line_no, line in enumerate(data.splitlines(), 1):
            found = [text for text in FORBIDDEN_TEXT if text.encode() in line]
            if found:
                out.append(f"{path}:{line_no}: refers to {found[0]!r}")
    return out


# ---------------------------------------------------------------------------------------------
# The package obeys the rules.


@pytest.fixture(scope="module")
def package() -> dict[str, Module]:
    modules = parse_sources(package_sources())
    assert "gruverify.core.params" in modules and "gruverify.cli" in modules
    return modules


def _report(violations: list[str]) -> str:
    return f"{len(violations)} violation(s):\n" + "\n".join(violations)


PACKAGE_RULES = {
    "layers import only downward": layer_violations,
    "no import circle": cycle_violations,
    "no private name crosses a module": private_violations,
    "no long function": long_functions,
}


@pytest.mark.parametrize("rule", sorted(PACKAGE_RULES))
def test_package_rule(package: dict[str, Module], rule: str) -> None:
    violations = PACKAGE_RULES[rule](package)
    assert not violations, _report(violations)


def test_no_file_refers_to_the_private_notes() -> None:
    try:
        files = repository_files()
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"not a git checkout ({exc}): the file list is git's")
    violations = forbidden_text((p.relative_to(REPO).as_posix(), p.read_bytes()) for p in files)
    assert not violations, _report(violations)


def readme_layout(text: str) -> tuple[set[str], set[str]]:
    """The README's layout block: (entries listed under ``gruverify/``, top-level folders listed)."""
    block = text.split("## Layout and development", 1)[1].split("```", 2)[1]
    inside, top = set(), set()
    for line in block.splitlines()[1:]:
        first = line.strip().split("  ")[0]
        if line.startswith("  ") and not first.startswith("("):
            inside.update(name.strip() for name in first.split(","))
        elif first.endswith("/") and first != f"{PACKAGE}/":
            top.add(first)
    return inside, top


def test_readme_layout_matches_the_tree() -> None:
    inside, top = readme_layout((REPO / "README.md").read_text(encoding="utf-8"))
    root = REPO / PACKAGE
    actual = {p.name + "/" for p in root.iterdir() if (p / "__init__.py").is_file()}
    actual |= {p.name for p in root.glob("*.py")} - {"__init__.py", "__main__.py"}
    assert inside == actual, (sorted(inside - actual), sorted(actual - inside))
    missing = sorted(name for name in top if not (REPO / name).is_dir())
    assert not missing, missing


def test_every_layer_is_placed(package: dict[str, Module]) -> None:
    """Every top-level module and subpackage is in LAYERS or APART (the rules see all code)."""
    layers = {_layer(name) for name in package} - {""}
    placed = set().union(*LAYERS) | set(APART)
    assert layers <= placed, sorted(layers - placed)


# ---------------------------------------------------------------------------------------------
# Each rule can fail: synthetic packages with one planted violation each.


def _fake(files: Mapping[str, str]) -> dict[str, Module]:
    """``{"core/a": source, "targets/__init__": source}`` -> a synthetic ``gruverify`` package."""
    sources = {"gruverify/__init__.py": ""}
    for key, text in files.items():
        path = f"gruverify/{key}.py"
        parts = Path(path).parts
        for depth in range(2, len(parts)):
            sources.setdefault("/".join(parts[:depth]) + "/__init__.py", "")
        sources[path] = text
    return parse_sources(sources)


def test_rule_layers_can_fail() -> None:
    ok = _fake({"core/a": "X = 1", "laws/b": "from gruverify.core.a import X"})
    assert layer_violations(ok) == []
    upward = _fake({"core/a": "from gruverify.laws.b import Y", "laws/b": "Y = 1"})
    [v] = layer_violations(upward)
    assert "gruverify/core/a.py:1" in v and "higher layer" in v, v
    lazy_upward = _fake(
        {"laws/b": "def f():\n    from gruverify.cli import main\n", "cli": "main = 1"}
    )
    [v] = layer_violations(lazy_upward)
    assert "laws may not import cli" in v, v
    into_zoo = _fake({"targets/t": "from gruverify.zoo import mutants", "zoo/mutants": ""})
    assert any("zoo stands apart" in v for v in layer_violations(into_zoo))
    into_analysis = _fake(
        {"conformance/r": "import gruverify.analysis.study", "analysis/study": ""}
    )
    assert any("analysis stands apart" in v for v in layer_violations(into_analysis))
    cli_may = _fake({"cli": "from gruverify.analysis import study", "analysis/study": ""})
    assert layer_violations(cli_may) == []
    sideways = _fake({"strategies": "from gruverify import profiles", "profiles": ""})
    assert any("separate parts of one layer" in v for v in layer_violations(sideways))
    relative = _fake({"reference/r": "from ..laws import gates", "laws/gates": ""})
    assert any("higher layer" in v for v in layer_violations(relative))
    unplaced = _fake({"newpart/m": ""})
    assert any("neither LAYERS nor APART" in v for v in layer_violations(unplaced))


def test_rule_no_circle_can_fail() -> None:
    assert cycle_violations(_fake({"core/a": "", "core/b": "from gruverify.core import a"})) == []
    circle = _fake(
        {
            "core/a": "from gruverify.core.b import B\nA = 1",
            "core/b": "def f():\n    from gruverify.core.c import C\nB = 1",
            "core/c": "from gruverify.core import a\nC = 1",
        }
    )
    [v] = cycle_violations(circle)
    assert "gruverify.core.a, gruverify.core.b, gruverify.core.c" in v, v
    via_package = _fake(
        {
            "targets/__init__": "from gruverify.targets.t import T",
            "targets/t": "from gruverify.targets import REGISTRY\nT = 1",
        }
    )
    [v] = cycle_violations(via_package)
    assert "gruverify.targets, gruverify.targets.t" in v, v
    package_reexport = _fake(
        {
            "targets/__init__": "from gruverify.targets.t import T",
            "targets/t": "from gruverify.targets.e import E",
        }
    )
    assert cycle_violations(package_reexport) == []


def test_rule_private_names_can_fail() -> None:
    public = _fake({"core/a": "_X = 1\nY = _X", "core/b": "from gruverify.core.a import Y"})
    assert private_violations(public) == []
    by_name = _fake({"core/a": "_X = 1", "core/b": "from gruverify.core.a import _X"})
    [v] = private_violations(by_name)
    assert "private name _X" in v, v
    by_attribute = _fake(
        {
            "core/a": "_X = 1",
            "laws/b": "from gruverify.core import a\n\ndef f():\n    return a._X\n",
            "laws/c": "import gruverify.core.a\nY = gruverify.core.a._X\n",
            "laws/d": "import gruverify.core.a as m\nY = m._X\nZ = m.__name__\n",
        }
    )
    found = private_violations(by_attribute)
    assert len(found) == 3 and all("gruverify.core.a._X" in v for v in found), found
    own_attribute = _fake({"core/a": "class K:\n    def _f(self):\n        return self._g\n"})
    assert private_violations(own_attribute) == []


def test_rule_function_length_can_fail() -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(78))
    fits = _fake({"core/a": f"@staticmethod\ndef f():\n{body}\n    return 0\n"})
    assert long_functions(fits) == []
    method_body = body.replace("\n", "\n    ") + "\n        x = 1"
    too_long = _fake(
        {"core/a": f"class K:\n    def f(self):\n    {method_body}\n        return 0\n"}
    )
    [v] = long_functions(too_long)
    assert "gruverify/core/a.py:2: f is 81 lines" in v, v


def test_rule_readme_layout_can_fail() -> None:
    text = "## Layout and development\n\n```\ngruverify/  lib\n  core/  x\n  a.py, b.py  y\n"
    text += "  (beside)\ntests/  t\n```\n"
    assert readme_layout(text) == ({"core/", "a.py", "b.py"}, {"tests/"})


def test_rule_forbidden_text_can_fail() -> None:
    clean = [("docs/a.md", b"see docs/gru-math.md section 3\n")]
    assert forbidden_text(clean) == []
    planted = [("docs/a.md", b"ok\nsee " + FORBIDDEN_TEXT[0].encode() + b"/x.md\n")]
    [v] = forbidden_text(planted)
    assert v.startswith("docs/a.md:2:"), v
    assert forbidden_text([("x.py", FORBIDDEN_TEXT[1].encode())]) != []
