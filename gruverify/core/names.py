"""Did-you-mean for names a user types: targets, checks, options, settings keys.

Check names come in families (``forward[basic]``, ``forward[long]``, ...): a typo of the family's
stem (``forwrd``) is closest to the stem, and suggests the family's first member in catalogue
order, not whichever member difflib happens to rank first.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

__all__ = ["closest_name"]


def closest_name(word: str, known: Sequence[str], cutoff: float = 0.5) -> str | None:
    """The known name closest to ``word`` (difflib ratio >= ``cutoff``), else one it starts, else
    None. A word closer to a family stem (``name[...]`` without the bracket) than to any whole
    name gives that family's first member."""
    stems: dict[str, str] = {}
    for name in known:
        stems.setdefault(name.split("[", 1)[0], name)
    candidates = list(dict.fromkeys([*known, *stems]))
    close = difflib.get_close_matches(word, candidates, n=1, cutoff=cutoff)
    if close:
        return close[0] if close[0] in known else stems[close[0]]
    starts = [name for name in known if name.startswith(word)]
    return starts[0] if starts and word else None
