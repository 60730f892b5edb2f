"""The source of a zoo module, to be pasted into a standalone script (which imports no gruverify).

A zoo class (``gruverify.zoo.mutants:NoResetBias``) is defined on top of ``ZooGRU`` and a few
helpers of the zoo's modules. ``zoo_source(spec)`` returns, in dependency order, every top-level
definition of those modules that the class needs (found by the names each definition reads,
transitively), the imports those modules make of anything but gruverify, and the class itself with
its own source and docstring (the planted bug and the thread it mirrors); the helpers are printed
by ``ast.unparse`` without their docstrings, so the script stays short.
"""

from __future__ import annotations

import ast
import importlib
import inspect

from gruverify.conformance.standalone.calls import StandaloneError

__all__ = ["zoo_source"]

ZOO = "gruverify.zoo"


def _definitions(module_name: str) -> tuple[dict[str, ast.stmt], list[ast.stmt], str]:
    """A module's top-level definitions by name, its imports of non-gruverify names, its text."""
    module = importlib.import_module(module_name)  # the imported one when it is
    text = inspect.getsource(module)
    tree = ast.parse(text)
    defs: dict[str, ast.stmt] = {}
    imports: list[ast.stmt] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            defs[node.name] = node
        elif isinstance(node, ast.Import | ast.ImportFrom):
            mod = getattr(node, "module", None) or ""
            if not mod.startswith("gruverify") and mod != "__future__":
                imports.append(node)
    return defs, imports, text


def _without_docstrings(node: ast.stmt) -> ast.stmt:
    """A copy of ``node`` without docstrings (in it and its nested functions and classes)."""
    node = ast.parse(ast.unparse(node)).body[0]
    for n in ast.walk(node):
        if isinstance(n, ast.FunctionDef | ast.ClassDef):
            body = n.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                n.body = body[1:] or [ast.Pass()]
    return node


def zoo_source(spec: str) -> str:
    """The code that defines the zoo class ``spec`` (``module:Class``) without gruverify."""
    module_name, _, attr = spec.partition(":")
    if not module_name.startswith(ZOO) or not attr.isidentifier():
        raise StandaloneError(f"{spec} is not a class of {ZOO}")
    names = ("gruverify.zoo.base", "gruverify.zoo.scale", "gruverify.zoo.mutants", module_name)
    defs: dict[str, tuple[ast.stmt, str]] = {}
    imports: list[str] = []
    for name in dict.fromkeys(names):
        found, imp, text = _definitions(name)
        defs.update({k: (v, text) for k, v in found.items()})
        imports += [ast.unparse(i) for i in imp]
    if attr not in defs:
        raise StandaloneError(f"{module_name} has no class {attr!r}")
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        order.append(name)  # before the walk: a class that names itself does not loop
        for n in ast.walk(defs[name][0]):
            ident = n.id if isinstance(n, ast.Name) else None
            if ident in defs and ident != name:
                visit(ident)
        order.remove(name)
        order.append(name)  # after its dependencies

    visit(attr)
    node, text = defs[attr]
    parts = [ast.unparse(_without_docstrings(defs[n][0])) for n in order if n != attr]
    parts.append(ast.get_source_segment(text, node) or ast.unparse(node))
    header = "\n".join(dict.fromkeys(imports))
    return header + "\n\n\n" + "\n\n\n".join(parts) + "\n"
