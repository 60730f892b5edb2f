"""The feature vocabulary: what an implementation may lack, and what a drawn case may switch on.

One table, ``FEATURE_TABLE``; every other list of feature names is derived from it:

- ``FEATURES``: every name, in the table's order. ``Capabilities.missing`` and an adapter's
  ``gruverify_missing = {feature: reason}`` use these names (an unknown one is a usage error).
- ``CASE_SWITCHES``: the features a drawn case switches on or off (each drawn only where the target
  supports it); the others (``gradients``, ``dropout``) are needed by whole checks.
- ``BASIC``: the plain configuration of the ``forward[basic]`` check, every case switch that shapes
  the call pinned off (one layer, one direction, biases, time-major, batched, no lengths); the
  initial state stays drawn (``h0`` given or None are both basic calls).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

__all__ = ["BASIC", "CASE_SWITCHES", "FEATURES", "FEATURE_TABLE", "MEANINGS", "Feature"]


@dataclasses.dataclass(frozen=True)
class Feature:
    """One feature: its name, what supporting it means, and how the checker uses it.

    ``drawn``: cases switch it on or off (else a whole check needs it); ``basic``: the value it is
    pinned to in ``forward[basic]`` (None: drawn there too).
    """

    name: str
    meaning: str
    drawn: bool = True
    basic: bool | None = False


FEATURE_TABLE: tuple[Feature, ...] = (
    Feature("bias_false", "built without biases (bias=False)"),
    Feature("bidirectional", "a reverse direction beside the forward one (bidirectional=True)"),
    Feature("multilayer", "stacked layers (num_layers > 1)"),
    Feature("lengths", "padded batches of different lengths (a PackedSequence input)"),
    Feature("batch_first", "the batch-first layout (B, T, I)"),
    Feature("unbatched", "an unbatched (T, I) input"),
    Feature("initial_state", "an initial state h0 (else h0=None, meaning zeros)", basic=None),
    Feature("gradients", "gradients by the implementation (backward)", drawn=False, basic=None),
    Feature("dropout", "dropout between layers (off in eval mode)", drawn=False, basic=None),
)

FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURE_TABLE)
"""Every feature name (``Capabilities.missing`` keys, ``gruverify_missing`` keys)."""

MEANINGS: Mapping[str, str] = {f.name: f.meaning for f in FEATURE_TABLE}
"""Each feature's one-line meaning."""

CASE_SWITCHES: tuple[str, ...] = tuple(f.name for f in FEATURE_TABLE if f.drawn)
"""Features a drawn case switches on or off."""

BASIC: Mapping[str, bool] = {
    f.name: f.basic for f in FEATURE_TABLE if f.drawn and f.basic is not None
}
"""The ``forward[basic]`` check's pinned features (each off)."""
