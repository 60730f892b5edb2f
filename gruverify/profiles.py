"""Hypothesis settings profiles shared by the property suite and the conformance checker.

Three profiles, registered under these names:

- ``"quick"``: few examples, for a fast local look (random seeds);
- ``"ci"``: derandomized (the same examples on every run), moderate count; the default when nothing
  is chosen, so a CI failure reproduces exactly;
- ``"thorough"``: many examples, random seeds, for soak runs (``--hypothesis-seed=N``).

A profile is chosen by pytest's ``--hypothesis-profile NAME`` or, failing that, by the environment
variable ``GRUVERIFY_PROFILE`` (``load_profile()`` reads it). Every profile prints the shrunk
counterexample (``print_blob`` and ``note()`` output) and disables the too-slow health check for
data generation, since a single GRU example can take tens of milliseconds by design.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, Verbosity, settings

__all__ = [
    "DEFAULT_PROFILE",
    "ENV_VAR",
    "PROFILES",
    "examples",
    "load_profile",
    "register_profiles",
    "selected_profile",
]

ENV_VAR = "GRUVERIFY_PROFILE"
DEFAULT_PROFILE = "ci"
PROFILES = ("quick", "ci", "thorough")

_COMMON = {
    "deadline": None,
    "print_blob": True,
    "suppress_health_check": (HealthCheck.too_slow, HealthCheck.data_too_large),
    "verbosity": Verbosity.normal,
}


def register_profiles() -> None:
    """Register ``quick``, ``ci`` and ``thorough`` with hypothesis (idempotent)."""
    settings.register_profile("quick", max_examples=8, derandomize=False, **_COMMON)  # type: ignore[arg-type]
    settings.register_profile(
        "ci",
        max_examples=20,
        derandomize=True,
        database=None,
        phases=(Phase.explicit, Phase.generate, Phase.target, Phase.shrink, Phase.explain),
        **_COMMON,  # type: ignore[arg-type]
    )
    settings.register_profile("thorough", max_examples=60, derandomize=False, **_COMMON)  # type: ignore[arg-type]


def selected_profile(explicit: str | None = None) -> str:
    """The profile name to use: ``explicit`` if given, else ``$GRUVERIFY_PROFILE``, else ``ci``."""
    name = explicit or os.environ.get(ENV_VAR) or DEFAULT_PROFILE
    if name not in PROFILES:
        raise ValueError(
            f"unknown hypothesis profile {name!r} (from {ENV_VAR}?); expected {PROFILES}"
        )
    return name


def load_profile(explicit: str | None = None) -> str:
    """Register the profiles and load the selected one; returns its name."""
    register_profiles()
    name = selected_profile(explicit)
    settings.load_profile(name)
    return name


def examples(ci_count: int) -> int:
    """A test's example count under the active profile, given its count under ``ci``.

    Heavy properties set fewer examples than the profile's default; this keeps their share
    proportional: ``ci_count * max_examples(active) / max_examples(ci)``, at least 1.
    """
    register_profiles()
    active = settings.default.max_examples  # type: ignore[union-attr]
    base = settings.get_profile(DEFAULT_PROFILE).max_examples
    return max(1, round(ci_count * active / base))
