"""What the model-file readers share: a GRU of a file held as one layer of canonical cells.

An ONNX ``GRU`` node, a Keras ``GRU`` layer and an OpenVINO ``GRUSequence`` are each one layer
(one or two directions). ``OneLayerGRU`` gives the dataclass of each reader (``onnx_file``,
``keras_file``, ``openvino_file``) the canonical views the checker and ``--source`` matching use.
"""

from __future__ import annotations

import numpy as np

from gruverify.core.params import GRUCellParams, GRUParams, StackParams

__all__ = ["OneLayerGRU"]


class OneLayerGRU:
    """A file's GRU as one layer: ``cells`` (one per direction) and ``bias``."""

    cells: tuple[GRUCellParams[np.ndarray], ...]
    bias: bool

    @property
    def params(self) -> GRUParams:
        """The GRU as a one-layer canonical stack (no biases in the file: zeros, ``bias=False``)."""
        return StackParams((tuple(self.cells),), bias=self.bias)

    @property
    def rows(self) -> tuple[tuple[GRUCellParams[np.ndarray], ...], ...]:
        """The cells per layer (one layer)."""
        return (tuple(self.cells),)

    @property
    def input_size(self) -> int:
        return self.cells[0].input_size

    @property
    def hidden_size(self) -> int:
        return self.cells[0].hidden_size

    @property
    def directions(self) -> int:
        return len(self.cells)

    def shape(self) -> str:
        """``input I, hidden H, D direction(s)``: what matching with a source compares."""
        return f"input {self.input_size}, hidden {self.hidden_size}, {self.directions} direction(s)"
