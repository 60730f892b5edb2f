"""Errors raised by the layout converters."""

from __future__ import annotations

from gruverify.core.params import ParameterError

__all__ = ["LayoutError", "UnsupportedParameterError"]


class LayoutError(ParameterError):
    """A library's weights do not have the names or shapes its layout prescribes."""


class UnsupportedParameterError(LayoutError):
    """The target layout cannot express a parameter the canonical set holds (e.g. a nonzero b_hn)."""
