"""What a target builds per key and keeps while it is used: compiled models, runtime sessions,
interpreters. Each holds memory or threads, so only the most recently used few are kept."""

from __future__ import annotations

import collections
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["Recent"]

V = TypeVar("V")


class Recent(Generic[V]):
    """The ``limit`` most recently used values by key; ``get(key, build)`` builds a missing one."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        self.limit = limit
        self._values: collections.OrderedDict[Hashable, V] = collections.OrderedDict()

    def get(self, key: Hashable, build: Callable[[], V]) -> V:
        """The value kept for ``key``, else ``build()``, kept; the least recently used goes past
        ``limit``."""
        if key in self._values:
            self._values.move_to_end(key)
            return self._values[key]
        value = build()
        self._values[key] = value
        while len(self._values) > self.limit:
            self._values.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._values)
