"""Exact converters between canonical named parameters and the layouts of real libraries.

One module per library; each offers ``to_<layout>`` and ``from_<layout>``. Weights are only
reordered, sliced, transposed and concatenated (plus the exact sign flips of the course notation).
Where a layout has fewer biases than the canonical twelve (Keras ``reset_after=False``, Flax, the
course notation) the biases that act as one sum are folded into ``b_i*`` (one float64 addition
each) and ``from_<layout>`` returns ``b_h* = 0``; each such module has a ``*_canonical_form`` so
that ``from(to(p)) == canonical_form(p)`` holds bit for bit. A parameter a layout cannot express
(Flax nnx's missing ``b_hn``) raises ``UnsupportedParameterError``. Gate orders
(docs/gru-math.md section 1): torch r, z, n; Keras z, r, h; ONNX z, r, h; Flax linen separate
dense layers; Flax nnx packed r, z, n without b_hn.
"""

from gruverify.layouts.errors import LayoutError, UnsupportedParameterError
from gruverify.layouts.flax_layout import (
    flax_canonical_form,
    gru_cell_from_flax_linen,
    gru_cell_from_flax_nnx,
    gru_cell_to_flax_linen,
    gru_cell_to_flax_nnx,
)
from gruverify.layouts.keras_layout import (
    gru_cell_from_keras,
    gru_cell_to_keras,
    gru_from_keras,
    gru_to_keras,
    keras_canonical_form,
)
from gruverify.layouts.ng_layout import (
    NgGRUParams,
    gru_cell_from_ng,
    gru_cell_to_ng,
    ng_canonical_form,
    ng_gru_forward,
)
from gruverify.layouts.onnx_layout import (
    gru_from_onnx,
    gru_to_onnx,
    linear_before_reset_for,
    make_onnx_gru_model,
    run_onnx_gru,
)

__all__ = [
    "LayoutError",
    "NgGRUParams",
    "UnsupportedParameterError",
    "flax_canonical_form",
    "gru_cell_from_flax_linen",
    "gru_cell_from_flax_nnx",
    "gru_cell_from_keras",
    "gru_cell_from_ng",
    "gru_cell_to_flax_linen",
    "gru_cell_to_flax_nnx",
    "gru_cell_to_keras",
    "gru_cell_to_ng",
    "gru_from_keras",
    "gru_from_onnx",
    "gru_to_keras",
    "gru_to_onnx",
    "keras_canonical_form",
    "linear_before_reset_for",
    "make_onnx_gru_model",
    "ng_canonical_form",
    "ng_gru_forward",
    "run_onnx_gru",
]
