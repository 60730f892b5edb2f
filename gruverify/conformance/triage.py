"""Triage of a target's crash: which feature of a case triggers it, so the checks can go on.

A GRU with a stray ``.squeeze()`` raises at batch 1 and nowhere else; every check draws batch 1
at some point, and without triage each would stop there: the equations would never be judged on
the cases the target does run. When a check's law raises something that is not a law violation
(a crash of the target), the runner calls ``Triage.trigger(law, impl, model, case, crash)``:

1. **Single features.** Each feature of ``FEATURES`` the crashing case has (``batch = 1``,
   ``unbatched``, ``hidden_size = 1``, ``input_size = 1``, ``steps = 1``, ``h0 None``,
   ``bias=False``, ``batch_first``, several layers, ``bidirectional``, ``lengths``, a parameter or
   input kind other than ordinary) is switched off on its own (``batch 1 -> 2``, ...) and the
   law run again on that neighbour. A feature whose neighbour does not raise the same error
   (``error_key``: the type and the target's own frames) is necessary; when some are, the
   trigger is their conjunction (``whenever batch = 1``). Another error on the neighbour is
   another error: the next round, on the cases this trigger does not cover, finds it.
2. **Several features.** When no single one clears it, every feature is switched off at once; if
   that clears it, features are put back one at a time while it stays clear, and the trigger is
   the disjunction of those that had to stay off (``whenever batch = 1 or input_size = 1``).
3. **Whenever.** The trigger is tried on a second case, the crashing case with every other
   feature switched off and other data (the next seed): the same error there makes it
   ``whenever``; otherwise it is ``at``
   (seen, not on every such case). None when nothing clears the error (it is not about a feature
   of the case: the check stays an error as before).

A ``Trigger`` says which cases to avoid (``matches``) and how to say it
(``"raises IndexError whenever batch = 1; passes at batch = 2"``). ``Triage`` remembers the
triggers found per error for the whole run, so the next check that raises the same error at a
case the trigger covers reuses it without a search. The runner then runs the check again on the
cases no known trigger covers: the equations are judged there, and the verdict still fails
(the check is an error, or a failure when a law is violated on the other cases).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from gruverify.conformance.cases import CheckCase
from gruverify.conformance.checks import Law
from gruverify.core.problem import Implementation
from gruverify.core.tracebacks import error_key
from gruverify.error_model import ErrorModel
from gruverify.guard import crash_traceback
from gruverify.laws.base import Inconclusive, LawViolation

__all__ = ["FEATURES", "Crash", "Feature", "Trigger", "Triage", "crash_of", "describe_triggers"]


def _replace(case: CheckCase, **config: Any) -> CheckCase:
    """``case`` with ``config`` changes to its configuration (fixed lengths dropped: the batch
    or the steps may change under them)."""
    return dataclasses.replace(
        case, config=dataclasses.replace(case.config, **config), lengths=None
    )


@dataclasses.dataclass(frozen=True)
class Feature:
    """A feature a case may have (``has``), and the neighbour without it (``off``, ``instead``:
    what the neighbour has in words)."""

    name: str
    has: Callable[[CheckCase], bool]
    off: Callable[[CheckCase], CheckCase]
    instead: str


FEATURES: tuple[Feature, ...] = (
    Feature("batch = 1", lambda c: c.config.batch == 1, lambda c: _replace(c, batch=2),
            "batch = 2"),
    Feature("unbatched", lambda c: c.config.batch is None,
            lambda c: _replace(c, batch=2, batch_first=False, padded=False), "batch = 2"),
    Feature("hidden_size = 1", lambda c: c.config.hidden_size == 1,
            lambda c: _replace(c, hidden_size=2), "hidden_size = 2"),
    Feature("input_size = 1", lambda c: c.config.input_size == 1,
            lambda c: _replace(c, input_size=2), "input_size = 2"),
    Feature("steps = 1", lambda c: c.config.steps == 1, lambda c: _replace(c, steps=2),
            "steps = 2"),
    Feature("h0 None", lambda c: not c.config.initial_state,
            lambda c: _replace(c, initial_state=True), "a given h0"),
    Feature("bias=False", lambda c: not c.config.bias, lambda c: _replace(c, bias=True),
            "bias=True"),
    Feature("batch_first", lambda c: c.config.batch_first,
            lambda c: _replace(c, batch_first=False), "batch_first=False"),
    Feature("num_layers > 1", lambda c: c.config.num_layers > 1,
            lambda c: _replace(c, num_layers=1), "num_layers = 1"),
    Feature("bidirectional", lambda c: c.config.bidirectional,
            lambda c: _replace(c, bidirectional=False), "one direction"),
    Feature("lengths", lambda c: c.config.padded, lambda c: _replace(c, padded=False),
            "no lengths"),
    Feature("non-ordinary parameters", lambda c: c.param_kind != "ordinary",
            lambda c: dataclasses.replace(c, param_kind="ordinary"), "ordinary parameters"),
    Feature("non-ordinary inputs", lambda c: c.input_kind != "ordinary",
            lambda c: dataclasses.replace(c, input_kind="ordinary"), "ordinary inputs"),
)  # fmt: skip
"""The features triage switches off, in the order a trigger is named."""


@dataclasses.dataclass(frozen=True)
class Crash:
    """A crash of the target: its type, message, trimmed traceback and what makes it the same
    error as another (``key``)."""

    type: str
    message: str
    traceback: str
    key: str

    def line(self) -> str:
        first = self.message.splitlines()[0] if self.message else ""
        return f"{self.type}: {first}" if first else self.type


def crash_of(e: BaseException) -> Crash | None:
    """The crash ``e`` is, or None for a law violation (a hang and a death included) or an
    inconclusive case: those are verdicts, not crashes."""
    if isinstance(e, (LawViolation, Inconclusive)):
        return None
    text = crash_traceback(e)
    name = type(e).__name__
    return Crash(name, str(e), text, error_key(name, text, str(e)))


@dataclasses.dataclass(frozen=True)
class Trigger:
    """The features that trigger one crash: ``all`` of them (a conjunction) or ``any`` of them
    (a disjunction); ``whenever`` when a second case confirmed it."""

    crash: Crash
    features: tuple[Feature, ...]
    any: bool
    whenever: bool

    def matches(self, case: CheckCase) -> bool:
        """Whether ``case`` has the trigger (a case to avoid)."""
        hits = [f.has(case) for f in self.features]
        return any(hits) if self.any else all(hits)

    def names(self) -> str:
        """``batch = 1``, ``batch = 1 or input_size = 1``, ``batch = 1 and steps = 1``."""
        return (" or " if self.any else " and ").join(f.name for f in self.features)

    def instead(self) -> str:
        """Where the target passes instead: ``batch = 2``, ``batch = 2 and input_size = 2``."""
        return (" and " if self.any else ", or at ").join(f.instead for f in self.features)

    def describe(self) -> str:
        """``raises IndexError whenever batch = 1; passes at batch = 2``."""
        how = "whenever" if self.whenever else "at"
        return f"raises {self.crash.type} {how} {self.names()}; passes at {self.instead()}"


def describe_triggers(triggers: Sequence[Trigger]) -> str:
    """The triggers of one check in words, those of the same error joined with ``or``:
    ``raises IndexError whenever batch = 1 or unbatched; passes at batch = 2``."""
    by_error: dict[str, list[Trigger]] = {}
    for t in triggers:
        by_error.setdefault(t.crash.key, []).append(t)
    said = []
    for same in by_error.values():
        if len(same) == 1:
            said.append(same[0].describe())
            continue
        names = " or ".join(t.names() for t in same)
        instead = ", ".join(dict.fromkeys(t.instead() for t in same))
        how = "whenever" if all(t.whenever for t in same) else "at"
        said.append(f"raises {same[0].crash.type} {how} {names}; passes at {instead}")
    return "; ".join(said)


Runner = Callable[[CheckCase], BaseException | None]


@dataclasses.dataclass
class Triage:
    """The triggers found in one run, per error (``Crash.key``); see the module docstring.
    ``runs``: how many extra law runs triage has spent."""

    found: dict[str, list[Trigger]] = dataclasses.field(default_factory=dict)
    runs: int = 0

    def known(self, case: CheckCase, crash: Crash) -> Trigger | None:
        """A trigger found earlier for this error that covers ``case``."""
        return next((t for t in self.found.get(crash.key, ()) if t.matches(case)), None)

    def trigger(
        self, law: Law, impl: Implementation, model: ErrorModel, case: CheckCase, crash: Crash
    ) -> Trigger | None:
        """The trigger of ``crash`` at ``case`` (known, or searched for), or None."""
        known = self.known(case, crash)
        if known is not None:
            return known

        def run(c: CheckCase) -> BaseException | None:
            self.runs += 1
            try:
                law(impl, c.problem(), model)
            except Exception as e:
                return e
            return None

        found = search(run, case, crash)
        if found is not None:
            self.found.setdefault(crash.key, []).append(found)
        return found


def _same(run: Runner, case: CheckCase, crash: Crash) -> bool:
    """Whether the law at ``case`` raises the same error as ``crash``."""
    e = run(case)
    other = None if e is None else crash_of(e)
    return other is not None and other.key == crash.key


def _all_off(case: CheckCase, features: Sequence[Feature]) -> CheckCase:
    for f in features:
        if f.has(case):
            case = f.off(case)
    return case


def search(run: Runner, case: CheckCase, crash: Crash) -> Trigger | None:
    """The trigger of ``crash`` at ``case`` (steps 1 to 3 of the module docstring), ``run``
    running the law on a case and returning what it raised."""
    active = [f for f in FEATURES if f.has(case)]
    needed = [f for f in active if not _same(run, f.off(case), crash)]
    disjoint = False
    if not needed:
        if not active or _same(run, _all_off(case, active), crash):
            return None
        needed = list(active)
        for f in active:  # put each back while the error stays away
            trial = [g for g in needed if g is not f]
            if trial and not _same(run, _all_off(case, trial), crash):
                needed = trial
        disjoint = len(needed) > 1
    others = [f for f in active if f not in needed]
    second = dataclasses.replace(_all_off(case, others), seed=(case.seed + 1) % 2**32)
    whenever = _same(run, second, crash)
    return Trigger(crash, tuple(needed), disjoint, whenever)
