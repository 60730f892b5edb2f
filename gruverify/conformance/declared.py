"""What a run declares of its targets' arithmetic: ``--activation-error`` and ``--accumulator``.

A target declares its own arithmetic (``gruverify.error_model.arithmetic_of``: its ``arithmetic``,
``activation_error`` and ``accumulator`` attributes, set from a class's ``gruverify_*`` ones). A
run may declare it for targets it does not own (a built-in target, a library's class named by
``module:attr``): ``gruverify check --activation-error EPS --accumulator FORMAT``, the settings'
``activation_error`` and ``accumulator`` keys, the plugin's ``--gru-activation-error`` and
``--gru-accumulator``. ``Declared`` is that declaration: ``apply`` sets it on each target, in
place of the target's own (an isolated target too: the attributes live on the checker's side of
``IsolatedTarget``, where the error model reads them; the worker never needs them), ``options``
gives the options a reproduce command repeats, and ``recorded`` / ``of_record`` carry what a
target declared through a counterexample file to ``gruverify reproduce``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from gruverify.core.problem import Implementation
from gruverify.error_model import (
    accumulator_value,
    activation_error_value,
    declared_accumulator,
    declared_activation_error,
)
from gruverify.targets.errors import TargetError

__all__ = ["Declared"]


@dataclasses.dataclass(frozen=True)
class Declared:
    """A run's declared arithmetic: ``activation_error`` (a float in [0, 0.1)) and ``accumulator``
    (a storage format's name, ``DTYPES``); None leaves the target's own declaration."""

    activation_error: float | None = None
    accumulator: str | None = None

    @staticmethod
    def checked(activation_error: object = None, accumulator: object = None) -> Declared:
        """The declaration from unchecked values; ``TargetError`` (a usage error) names the option
        of a bad one."""
        try:
            error = None if activation_error is None else activation_error_value(activation_error)
        except ValueError as e:
            raise TargetError(f"--activation-error: {e}") from None
        try:
            return Declared(error, accumulator_value(accumulator))
        except ValueError as e:
            raise TargetError(f"--accumulator: {e}") from None

    def attributes(self) -> dict[str, Any]:
        """The ``Implementation`` attributes this declaration sets (``arithmetic_of`` reads them)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    def apply(self, impls: Iterable[Implementation]) -> None:
        """Declare it on every target of ``impls``; ``TargetError`` for one that cannot take an
        attribute."""
        for impl in impls:
            for name, value in self.attributes().items():
                try:
                    setattr(impl, name, value)
                except (AttributeError, TypeError) as e:
                    raise TargetError(
                        f"{impl.name}: cannot declare its {name.replace('_', ' ')} ({e}); give "
                        f"the Implementation an {name} attribute"
                    ) from None

    def options(self) -> list[str]:
        """The command-line options that declare it (none for an empty declaration)."""
        out = []
        if self.activation_error is not None:
            out += ["--activation-error", repr(float(self.activation_error))]
        if self.accumulator is not None:
            out += ["--accumulator", self.accumulator]
        return out

    @staticmethod
    def recorded(impl: Implementation) -> dict[str, Any]:
        """What ``impl`` declares, for a counterexample file's metadata (its attributes: its
        class's declaration or its run's)."""
        return {
            "activation_error": declared_activation_error(impl),
            "accumulator": declared_accumulator(impl),
        }

    @staticmethod
    def of_record(data: Mapping[str, Any]) -> Declared:
        """The declaration a counterexample file recorded (``recorded``): an activation error of 0
        and a missing entry declare nothing (the target's own arithmetic stands)."""
        return Declared.checked(data.get("activation_error") or None, data.get("accumulator"))
