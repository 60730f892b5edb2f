"""pytest plugin (entry point ``pytest11``): run gruverify's conformance checks in your test suite.

Two ways, both one test per check (a failure shows the law, the numbers, the minimal configuration
and the ``gruverify check`` command that reproduces it; a missing feature is a skip with its
reason):

1. In a test file, a couple of lines::

       from gruverify.pytest_plugin import conformance_tests

       test_my_gru = conformance_tests("my_package.my_module:MyGRU")   # or the class itself

2. From the command line or ini file, no test file needed::

       pytest --gru-target my_package.my_module:MyGRU [--gru-device cpu] [--gru-dtype float32]
       # pyproject.toml: [tool.pytest.ini_options] gru_targets = ["my_package.my_module:MyGRU"]

Options: ``--gru-target`` (repeatable), ``--gru-cell`` (targets are GRUCell-shaped),
``--gru-device`` (default: cpu, plus cuda when available), ``--gru-dtype``, ``--gru-profile``
(hypothesis profile, default ci), ``--gru-seed``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from gruverify.core.dtypes import DTYPES

__all__ = ["GruCheckItem", "conformance_tests", "run_one_check"]

_CACHE: dict[tuple[Any, ...], Any] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gruverify", "GRU conformance checks (gruverify)")
    group.addoption("--gru-target", action="append", default=[], metavar="TARGET",
                    help="check this GRU (built-in name or package.module:attr); repeatable")  # fmt: skip
    group.addoption("--gru-cell", action="store_true", help="the targets are GRUCell-shaped")
    group.addoption("--gru-device", default=None, choices=("cpu", "cuda"),
                    help="device (default: cpu, plus cuda when available)")  # fmt: skip
    group.addoption("--gru-dtype", default=None,
                    choices=DTYPES, help="dtype")  # fmt: skip
    group.addoption("--gru-profile", default=None, choices=("quick", "ci", "thorough"),
                    help="hypothesis profile for the checks (default ci)")  # fmt: skip
    group.addoption("--gru-seed", default=None, type=int, help="fix the draw")
    parser.addini("gru_targets", "GRU targets to check (like --gru-target)", type="linelist")


def _impl(target: Any, device: str, dtype: str | None, cell: bool) -> Any:
    """The ``Implementation`` for a target spec or the class itself (cached per session); the
    class is resolved exactly like its ``module:attr`` (``gruverify.targets.resolve_target``)."""
    key = (target, device, dtype, cell)
    if key not in _CACHE:
        from gruverify.targets import resolve_target

        _CACHE[key] = resolve_target(target, device=device, dtype=dtype, cell=cell)
    return _CACHE[key]


def run_one_check(
    target: Any,
    check: str,
    *,
    device: str = "cpu",
    dtype: str | None = None,
    cell: bool = False,
    profile: str | None = None,
    seed: int | None = None,
) -> None:
    """Run one named check; ``pytest.fail`` with the explanation, ``pytest.skip`` with the reason."""
    from gruverify.conformance.checks import CHECKS
    from gruverify.conformance.runner import reproduce_command, run_check
    from gruverify.targets import TargetError, target_spec

    try:
        impl = _impl(target, device, dtype, cell)
    except TargetError as e:
        pytest.fail(f"gruverify: {e}", pytrace=False)
    by_name = {c.name: c for c in CHECKS}
    if check not in by_name:
        raise ValueError(f"unknown check {check!r}; known: {sorted(by_name)}")
    profile = profile or "ci"
    seed = 0 if seed is None else seed
    repro = reproduce_command(target_spec(target), device, impl.dtype, profile, seed, check, cell)
    result = run_check(by_name[check], impl, profile=profile, seed=seed, reproduce=repro)
    if result.status == "skipped":
        pytest.skip(result.message)
    if result.status in ("failed", "error"):
        lines = [f"{check} {result.status} on {device}:", result.message.rstrip()]
        ce = result.counterexample or {}
        if ce.get("case"):
            lines.append(
                "minimal configuration: " + ", ".join(f"{k}={v}" for k, v in ce["case"].items())
            )
        lines.append(f"reproduce: {repro}")
        pytest.fail("\n".join(lines), pytrace=False)


def _devices(device: str | None) -> list[str]:
    if device is not None:
        return [device]
    from gruverify.conformance.runner import available_devices

    return available_devices()


def conformance_tests(
    target: Any,
    *,
    device: str | None = "cpu",
    dtype: str | None = None,
    cell: bool = False,
    checks: Sequence[str] | None = None,
    profile: str | None = None,
    seed: int | None = None,
) -> Callable[..., None]:
    """A test function parametrized over gruverify's checks for ``target``.

    ``target``: a built-in name, ``"package.module:attr"`` or the module class itself (checked
    exactly as its ``"module:qualname"``, which the reproduce commands name).
    ``device`` None means every available device. Assign the result to a ``test_*`` name.
    """
    from gruverify.conformance.checks import CHECKS

    names = list(checks) if checks else [c.name for c in CHECKS]
    params = [(d, n) for d in _devices(device) for n in names]

    @pytest.mark.parametrize(
        ("gru_device", "gru_check"), params, ids=[f"{d}-{n}" for d, n in params]
    )
    def test_gru_conformance(gru_device: str, gru_check: str) -> None:
        run_one_check(target, gru_check, device=gru_device, dtype=dtype, cell=cell,
                      profile=profile, seed=seed)  # fmt: skip

    return test_gru_conformance


class GruCheckItem(pytest.Item):
    """One check of one ``--gru-target`` on one device, collected without a test file."""

    def __init__(self, *, target: str, device: str, check: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target, self.device, self.check = target, device, check

    def runtest(self) -> None:
        opt = self.config.getoption
        run_one_check(self.target, self.check, device=self.device, dtype=opt("gru_dtype"),
                      cell=opt("gru_cell"), profile=opt("gru_profile"), seed=opt("gru_seed"))  # fmt: skip

    def reportinfo(self) -> tuple[str, int | None, str]:
        return "gruverify", None, self.name


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    targets = list(config.getoption("gru_target") or []) + list(config.getini("gru_targets") or [])
    if not targets:
        return
    from gruverify.conformance.checks import CHECKS

    for target in targets:
        for device in _devices(config.getoption("gru_device")):
            for check in CHECKS:
                items.append(
                    GruCheckItem.from_parent(
                        session,
                        name=f"gruverify[{target}][{device}]::{check.name}",
                        target=target,
                        device=device,
                        check=check.name,
                    )
                )
