"""The error every target adapter raises when a target cannot be used."""

from __future__ import annotations

__all__ = ["TargetError"]


class TargetError(Exception):
    """A target cannot be loaded or does not follow the interface it claims (a usage error)."""
