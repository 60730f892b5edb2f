"""The target's traceback: where in the user's own code a call into it broke.

A checker that reports ``IndexError: tuple index out of range`` and nothing more leaves the user
to guess which line of their GRU raised it. ``trimmed_traceback(e)`` keeps the frames that are
the target's own and drops the checker's and the interpreter's plumbing around them:

- a frame is **own** when its file lies under one of ``roots`` (the target's module directory,
  when the caller knows it), or else when it lies neither in gruverify's package (its planted-bug
  zoo excepted), nor in the standard library, nor in an installed package (``site-packages`` /
  ``dist-packages``);
- the kept frames are every own frame, in call order, and then the **last frame of the library**
  the target called when the exception was raised inside one (``torch/nn/functional.py``, say):
  the line that raised, one frame below the user's call that led there. Library frames in
  between are left out (``...``);
- a traceback with no own frame at all (a built-in target crashing inside its library) keeps
  that last frame only.

The text has Python's layout (``File "path", line N, in function`` and the source line, then
``Type: message``) so that editors and terminals link it. ``error_key(type_name, text)`` is what
makes two errors the same error: the exception's type and the kept frames (their files, lines
and functions, not the message, whose numbers change with the case's sizes); an error without a
traceback is keyed by its type and first message line.
"""

from __future__ import annotations

import os
import sysconfig
import traceback
from collections.abc import Sequence
from types import TracebackType

__all__ = ["error_key", "own_frame", "trimmed_traceback"]

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_ZOO = os.path.join(_PACKAGE, "zoo")


def _library_dirs() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    found = {os.path.abspath(paths[k]) for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    return tuple(sorted(found))


_LIBRARY_DIRS = _library_dirs()


def _under(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip(os.sep) + os.sep)


def own_frame(filename: str, roots: Sequence[str] = ()) -> bool:
    """Whether a frame in ``filename`` is the target's own code (see the module docstring)."""
    if filename.startswith("<"):  # <frozen importlib._bootstrap>, <string>: no user's file
        return False
    path = os.path.abspath(filename)
    if any(_under(path, os.path.abspath(r)) for r in roots):
        return True
    if _under(path, _ZOO):
        return True
    if _under(path, _PACKAGE):
        return False
    parts = path.split(os.sep)
    if "site-packages" in parts or "dist-packages" in parts:
        return False
    return not any(_under(path, d) for d in _LIBRARY_DIRS)


def _format(frames: list[traceback.FrameSummary], skipped: bool) -> list[str]:
    lines = traceback.format_list(frames)
    if skipped and len(frames) > 1:
        lines.insert(-1, "  ...\n")
    return lines


def trimmed_traceback(e: BaseException, roots: Sequence[str] = ()) -> str:
    """``e``'s traceback kept to the target's own frames and the last library frame (module
    docstring), then ``Type: message``; ``""`` when ``e`` carries no traceback."""
    tb: TracebackType | None = e.__traceback__
    if tb is None:
        return ""
    frames = list(traceback.extract_tb(tb))
    own = [i for i, f in enumerate(frames) if own_frame(f.filename, roots)]
    keep = list(own)
    last = len(frames) - 1
    if last >= 0 and last not in own:
        keep.append(last)
    skipped = bool(own) and keep[-1] != own[-1] and keep[-1] != own[-1] + 1
    kept = [frames[i] for i in keep]
    head = "Traceback (the target's own frames; most recent call last):\n"
    tail = traceback.format_exception_only(type(e), e)
    return head + "".join(_format(kept, skipped)) + "".join(tail).rstrip("\n")


def error_key(type_name: str, text: str, message: str = "") -> str:
    """What makes two errors the same: the type and the kept frames' locations, or (without a
    traceback) the type and the message's first line."""
    frames = [line.strip() for line in text.splitlines() if line.strip().startswith('File "')]
    if frames:
        return type_name + "@" + " > ".join(frames)
    first = message.splitlines()[0] if message else ""
    return f"{type_name}: {first}"
