"""Exact converters between canonical named parameters and the layouts of real libraries.

One module per library; each offers ``to_<layout>`` and ``from_<layout>``, which are exact inverses
(only reordering, slicing and concatenation: no arithmetic except the sign flips of the course
notation, which are exact too). Gate orders (gru-math.md section 1): torch r, z, n; Keras z, r, h;
ONNX z, r, h; Flax linen separate dense layers; Flax nnx packed r, z, n without b_hn.
"""

from gruverify.layouts.errors import LayoutError, UnsupportedParameterError

__all__ = ["LayoutError", "UnsupportedParameterError"]
