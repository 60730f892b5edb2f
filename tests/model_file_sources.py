"""Source models for the model-file tests: a trained model is stood in for by a seeded one.

``tagger()`` is embedding -> 2-layer bidirectional GRU -> linear (``--source
model_file_sources:tagger``); ``export_onnx(model, path)`` exports it as a user would
(``torch.onnx.export``, TorchScript exporter, dynamic batch and sequence axes);
``export_program(model, path)`` exports it with ``torch.export`` (a ``.pt2`` program).
"""

from __future__ import annotations

import torch


class Tagger(torch.nn.Module):
    def __init__(self, vocab: int = 11, embed: int = 5, hidden: int = 4, classes: int = 3) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, embed)
        self.gru = torch.nn.GRU(embed, hidden, num_layers=2, bidirectional=True)
        self.head = torch.nn.Linear(2 * hidden, classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        out, _ = self.gru(self.embed(tokens))
        return self.head(out)


def tagger() -> torch.nn.Module:
    """The source model: seeded, so every call returns the same weights."""
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(1234)
    try:
        return Tagger().eval()
    finally:
        torch.random.set_rng_state(generator_state)


def other_tagger() -> torch.nn.Module:
    """A model of the same shapes with other weights."""
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(99)
    try:
        return Tagger().eval()
    finally:
        torch.random.set_rng_state(generator_state)


def export_onnx(model: torch.nn.Module, path: str) -> str:
    """``model`` exported to ``path`` with the TorchScript exporter (dynamic time and batch)."""
    import warnings

    tokens = torch.zeros(3, 2, dtype=torch.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, (tokens,), path, dynamo=False, input_names=["tokens"], output_names=["logits"],
            dynamic_axes={"tokens": {0: "T", 1: "B"}, "logits": {0: "T", 1: "B"}},
        )  # fmt: skip
    return path


def export_program(model: torch.nn.Module, path: str, steps: int = 3, dynamic: bool = False) -> str:
    """``model`` exported to ``path`` with ``torch.export`` (``torch.export.save``): tokens of
    ``steps`` x 2, its time and batch fixed to them, the batch dynamic (a ``Dim``) with
    ``dynamic`` (torch 2.13 cannot export an ``nn.GRU`` with a dynamic time axis: it specialises
    it to the example's, ``Constraints violated (T)``)."""
    import warnings

    tokens = torch.zeros(steps, 2, dtype=torch.int64)
    shapes = None
    if dynamic:
        shapes = ({1: torch.export.Dim("B", min=2)},)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nn.GRU's _flat_weights assigned during export
        program = torch.export.export(model, (tokens,), dynamic_shapes=shapes)
    torch.export.save(program, path)
    return path


def single_gru() -> torch.nn.Module:
    """One one-layer GRU: a source that cannot match a file with two GRU nodes."""
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(5)
    try:
        return torch.nn.GRU(5, 4)
    finally:
        torch.random.set_rng_state(generator_state)


def keras_tagger() -> object:
    """A Keras source model: embedding -> GRU (reset-after) -> Bidirectional GRU (reset-before)
    -> dense, its weights set from a seeded generator (the global seeds are left alone)."""
    import numpy as np

    from gruverify.targets.keras_target import import_keras

    keras = import_keras()
    tokens = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(11, 5)(tokens)
    x = keras.layers.GRU(4, return_sequences=True, name="gru_a")(x)
    x = keras.layers.Bidirectional(
        keras.layers.GRU(3, return_sequences=True, reset_after=False), name="gru_b"
    )(x)
    model = keras.Model(tokens, keras.layers.Dense(2)(x))
    rng = np.random.default_rng(7)
    for layer in model.layers:
        weights = layer.get_weights()
        layer.set_weights([(0.5 * rng.standard_normal(w.shape)).astype(w.dtype) for w in weights])
    return model


def save_keras(model: object, path: str) -> str:
    model.save(path)  # type: ignore[attr-defined]
    return path


class WithAux(torch.nn.Module):
    """The tagger beside an auxiliary GRU of the first GRU's shape, registered first: order
    matching pairs the wrong layers, ``--match`` names the right ones."""

    def __init__(self) -> None:
        super().__init__()
        self.aux = torch.nn.GRU(5, 4, bidirectional=True)
        self.tagger = tagger()


def tagger_with_aux() -> torch.nn.Module:
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(3)
    try:
        return WithAux().eval()
    finally:
        torch.random.set_rng_state(generator_state)
