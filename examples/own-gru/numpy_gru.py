"""A GRU written in numpy with a hand-written backward, checked through the adapter API: the
declared parameter map converts the weights and the gradients, the adapter only runs the GRU.

Keras' layout: kernel (I, 3H), recurrent (H, 3H), bias (2, 3H) (input and recurrent biases),
gates z, r, n, reset-after. Declared in gruverify.toml ([tool.gruverify.target."numpy_gru:Adapter"]):

    layout = "transposed"
    gate_order = "zrn"
"""

import numpy as np

from gruverify.core.params import StackParams
from gruverify.interface import Capabilities, Gradients, Outputs, Problem
from gruverify.layouts.param_map import preset


def sigmoid(a):
    return 0.5 * (1.0 + np.tanh(0.5 * a))


def gru(w, xs, h):
    """My GRU: states (T, B, H) and what the backward needs."""
    H, tape = h.shape[1], []
    for x in xs:
        gi, gh = x @ w["kernel"] + w["bias"][0], h @ w["recurrent"] + w["bias"][1]
        z, r = sigmoid(gi[:, :H] + gh[:, :H]), sigmoid(gi[:, H : 2 * H] + gh[:, H : 2 * H])
        n = np.tanh(gi[:, 2 * H :] + r * gh[:, 2 * H :])
        tape.append((x, h, z, r, n, gh[:, 2 * H :]))
        h = (1 - z) * n + z * h
    return np.stack([t[1] for t in tape[1:]] + [h]), tape


def gru_backward(w, tape, d_states):
    """My backward: gradients of sum(d_states * states) by parameter name, and d_x, d_h0."""
    g = {k: np.zeros_like(v) for k, v in w.items()}
    dh, dxs = np.zeros_like(tape[0][1]), []
    for (x, h, z, r, n, ghn), d in zip(reversed(tape), reversed(d_states), strict=True):
        dh = dh + d
        da_n = dh * (1 - z) * (1 - n * n)
        da_z = dh * (h - n) * z * (1 - z)
        da_r = da_n * ghn * r * (1 - r)
        dgi = np.concatenate([da_z, da_r, da_n], 1)
        dgh = np.concatenate([da_z, da_r, da_n * r], 1)
        g["kernel"] += x.T @ dgi
        g["recurrent"] += h.T @ dgh
        g["bias"] += np.stack([dgi.sum(0), dgh.sum(0)])
        dxs.append(dgi @ w["kernel"].T)
        dh = dh * z + dgh @ w["recurrent"].T
    return g, np.stack(dxs[::-1]), dh


class Adapter:
    """The few lines the adapter API needs: a forward and a backward; the map converts."""

    gruverify_adapter = True
    variant = "reset_after"
    capabilities = Capabilities({f: "my numpy GRU: one time-major layer" for f in (
        "multilayer", "bidirectional", "lengths", "dropout", "bias_false", "unbatched",
        "batch_first")})  # fmt: skip

    def __init__(self, device="cpu", dtype="float64", declaration=None):
        self.name, self.device, self.dtype = "numpy-gru", "cpu", "float64"
        self.declaration = declaration

    def weights(self, problem: Problem):
        cell, (I, H) = (
            problem.params.cell(0),
            (problem.params.input_size, problem.params.hidden_size),
        )
        shapes = {"kernel": (I, 3 * H), "recurrent": (H, 3 * H), "bias": (2, 3 * H)}
        d = self.declaration
        pmap = preset(d.layout, d.gate_order, list(shapes.items()), I, H)
        return pmap, pmap.load(cell, shapes, d.update or "standard", self.variant)

    def forward(self, problem: Problem) -> Outputs:
        _, w = self.weights(problem)
        h0 = (
            np.zeros((1, problem.x.shape[1], w["recurrent"].shape[0]))
            if problem.h0 is None
            else problem.h0
        )
        states, _ = gru(w, problem.x, h0[0])
        return Outputs(states, states[-1:])

    def gradients(self, problem: Problem, d_output, d_h_n) -> Gradients:
        pmap, w = self.weights(problem)
        H = w["recurrent"].shape[0]
        h0 = np.zeros((1, problem.x.shape[1], H)) if problem.h0 is None else problem.h0
        states, tape = gru(w, problem.x, h0[0])
        d = np.zeros_like(states) if d_output is None else np.array(d_output, dtype=float)
        if d_h_n is not None:
            d[-1] += d_h_n[0]
        g, dx, dh0 = gru_backward(w, tape, d)
        cell = pmap.gather(g, problem.params.input_size, H, "standard", self.variant)
        return Gradients(dx, dh0[None], StackParams(((cell,),), bias=True))
