"""Argument types the command lines share (``argparse`` ``type=`` callables).

The checker's command (``gruverify.cli``) and the vanishing study's subcommand
(``gruverify.analysis.vanishing_cli``) both take sizes and counts; analysis/ stands beside the
checker's layers and may not import the CLI, so the one type both use lives here, in core/.
"""

from __future__ import annotations

import argparse

__all__ = ["positive_int"]


def positive_int(text: str) -> int:
    """A whole number of at least 1 (a size, a count); ``argparse.ArgumentTypeError`` otherwise,
    which argparse reports with the option's name and exit status 2."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return value
