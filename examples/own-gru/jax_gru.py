"""A GRU written as a JAX function of (params, x, h), checked through the adapter API: the
declared parameter map converts the weights and the gradients, jax.vjp gives the backward.

My parameters: {"Wx": (I, 3H), "Wh": (H, 3H), "b": (3H,)}, gates r, z, n, one bias per gate,
reset-before. Declared in gruverify.toml ([tool.gruverify.target."jax_gru:Adapter"]):

    variant = "reset_before"
    layout = "transposed"
    gate_order = "rzn"
"""

import jax
import jax.numpy as jnp
import numpy as np

from gruverify.core.params import StackParams
from gruverify.interface import Capabilities, Gradients, Outputs, Problem
from gruverify.layouts.param_map import preset


def gru(params, xs, h):
    """My GRU: the states (T, B, H)."""
    H = h.shape[1]

    def step(h, x):
        gx = x @ params["Wx"] + params["b"]
        r = jax.nn.sigmoid(gx[:, :H] + h @ params["Wh"][:, :H])
        z = jax.nn.sigmoid(gx[:, H : 2 * H] + h @ params["Wh"][:, H : 2 * H])
        n = jnp.tanh(gx[:, 2 * H :] + (r * h) @ params["Wh"][:, 2 * H :])
        h = (1 - z) * n + z * h
        return h, h

    return jax.lax.scan(step, h, xs)[1]


class Adapter:
    """A forward and a backward (jax.vjp); the map converts."""

    gruverify_adapter = True
    variant = "reset_before"
    capabilities = Capabilities({f: "my JAX GRU: one time-major layer" for f in (
        "multilayer", "bidirectional", "lengths", "dropout", "bias_false", "unbatched",
        "batch_first")})  # fmt: skip

    def __init__(self, device="cpu", dtype="float32", declaration=None):
        self.name, self.device, self.dtype = "jax-gru", "cpu", "float32"
        self.declaration = declaration

    def call(self, problem: Problem):
        p = problem.params
        I, H = p.input_size, p.hidden_size
        shapes = {"Wx": (I, 3 * H), "Wh": (H, 3 * H), "b": (3 * H,)}
        d = self.declaration
        pmap = preset(d.layout, d.gate_order, list(shapes.items()), I, H)
        weights = pmap.load(p.cell(0), shapes, d.update or "standard", self.variant)
        params = {k: jnp.asarray(v, jnp.float32) for k, v in weights.items()}
        h0 = np.zeros((1, problem.x.shape[1], H)) if problem.h0 is None else problem.h0
        inputs = (jnp.asarray(problem.x, jnp.float32), jnp.asarray(h0[0], jnp.float32))
        return pmap, params, inputs

    def forward(self, problem: Problem) -> Outputs:
        _, params, (xs, h0) = self.call(problem)
        states = np.asarray(gru(params, xs, h0), np.float64)
        return Outputs(states, states[-1:])

    def gradients(self, problem: Problem, d_output, d_h_n) -> Gradients:
        pmap, params, (xs, h0) = self.call(problem)
        states, pullback = jax.vjp(gru, params, xs, h0)
        d = np.zeros(states.shape) if d_output is None else np.array(d_output, dtype=float)
        if d_h_n is not None:
            d[-1] += d_h_n[0]
        g, dx, dh0 = pullback(jnp.asarray(d, jnp.float32))
        grads = {k: np.asarray(v, np.float64) for k, v in g.items()}
        p = problem.params
        cell = pmap.gather(grads, p.input_size, p.hidden_size, "standard", self.variant)
        dx, dh0 = np.asarray(dx, np.float64), np.asarray(dh0, np.float64)[None]
        return Gradients(dx, dh0, StackParams(((cell,),), bias=True))
