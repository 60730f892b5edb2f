"""Carry-over: as the update gate saturates the state is carried and the step Jacobian tends to I.

Conventions: torch, Keras, ONNX and Cho et al. write ``h' = (1 - z) n + z h`` and carry the state as
``z -> 1``; Andrew Ng's course and Chung et al. 2014 write ``c' = G_u c~ + (1 - G_u) c`` and carry as
``G_u -> 0``; the two are the same cell with ``G_u = 1 - z``, ``W_u = -W_z``, ``b_u = -b_z``
(``from_course_update_gate``).

Bounds (docs/gru-math.md section 3), per step and per sequence, with ``eps = max_i (1 - z_i)``,
``hinf = ||h_{t-1}||_inf``, ``K`` the carry constant of ``gruverify.core.bounds`` (``K_after`` /
``K_before``, from the spectral norms of ``W_hn``, ``W_hr``, ``W_hz`` and ``hinf``) and

    d_t      = eps_t (1 + K_t)

1. state:            ``||h_t - h_{t-1}||_inf <= eps (1 + hinf)``
2. one step:         ``||J_t - I|| <= d_t`` and ``sigma_min(J_t) >= 1 - d_t``
3. T steps:          ``||J_T ... J_1 - I|| <= prod (1 + d_t) - 1`` and, while every ``d_t < 1``,
                     ``sigma_min(J_T ... J_1) >= prod (1 - d_t)``

each with a rounding slack of ``16 u (1 + K) (1 + hinf)`` per step (``u`` of float64, the reference's
format; ``gruverify.error_model.carry_over_slack``).
The exact case with a known time scale: ``W_hr = W_hz = W_hn = W_iz = 0``, ``b_iz = ln(T_c - 1)``,
``b_hz = 0`` make ``z = 1 - 1/T_c`` at every step and unit, so ``dh_T/dh_0 = (1 - 1/T_c)^T I``
exactly (``T_c = T = 50``: 0.364170); ``law_known_time_scale`` checks it on any implementation with
gradients, from ``d_h_n`` unit cotangents (``state_jacobian``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Literal

import numpy as np

from gruverify.core.arithmetic import worst_entry
from gruverify.core.bounds import carry_constant
from gruverify.core.params import GRUCellParams, StackParams, Variant, random_gru_params
from gruverify.core.problem import Implementation, Problem, rounded
from gruverify.error_model import arithmetic_of, carry_over_slack, known_time_scale_tolerance
from gruverify.laws.base import LawViolation
from gruverify.laws.gates import GateFn, layer_inputs, numpy_gates
from gruverify.reference.numpy_reference import gru_step_jacobian, sigmoid

__all__ = [
    "JacobianFn",
    "analytic_jacobian",
    "complex_step_jacobian_of",
    "from_course_update_gate",
    "law_carry_over_bounds",
    "law_known_time_scale",
    "state_jacobian",
    "time_scale_problem",
]

JacobianFn = Callable[[GRUCellParams[np.ndarray], np.ndarray, np.ndarray, Variant], np.ndarray]
"""``jacobian(cell, x (B, I), h (B, H), variant)`` -> ``dh'/dh`` ``(B, H, H)``."""


_Info = tuple[np.ndarray, np.ndarray, np.ndarray, str, Variant, Problem]


def analytic_jacobian(
    cell: GRUCellParams[np.ndarray], x: np.ndarray, h: np.ndarray, variant: Variant
) -> np.ndarray:
    return gru_step_jacobian(cell, x, h, variant=variant)


def complex_step_jacobian_of(gates: GateFn) -> JacobianFn:
    """``dh'/dh`` of a gate function's new state ``h`` by the complex step (it must accept complex
    arrays, as ``numpy_gates`` does): column ``j`` is ``Im h'(h + i 1e-30 e_j) / 1e-30``."""

    def jac(
        cell: GRUCellParams[np.ndarray], x: np.ndarray, h: np.ndarray, variant: Variant
    ) -> np.ndarray:
        B, H = np.shape(h)
        J = np.empty((B, H, H))
        for j in range(H):
            hc = np.asarray(h, dtype=np.complex128).copy()
            hc[:, j] += 1e-30j
            J[:, :, j] = np.imag(np.asarray(gates(cell, x, hc, variant)["h"])) / 1e-30
        return J

    return jac


def law_carry_over_bounds(
    problem: Problem,
    variant: Variant,
    gates: GateFn = numpy_gates,
    jacobian: JacobianFn = analytic_jacobian,
) -> None:
    """The three bounds of the module docstring on every layer, direction and sequence.

    ``gates`` gives ``z`` (``one_minus_z`` if present) and the new state along the float64
    reference trajectory; ``jacobian`` the step Jacobian (analytic by default).
    """
    for layer, (inp, hprevs) in enumerate(layer_inputs(problem, variant)):
        for d, hprev in enumerate(hprevs):
            _check_direction(problem, variant, layer, d, inp, hprev, gates, jacobian)


@dataclasses.dataclass
class _Product:
    """``P = J_t ... J_1`` per sequence and what bounds it: ``prod (1 + d_s)``, ``prod (1 - d_s)``,
    whether every ``d_s < 1``, and the summed rounding slack."""

    P: np.ndarray
    up: np.ndarray
    lo: np.ndarray
    all_small: np.ndarray
    slack_sum: np.ndarray

    @classmethod
    def identity(cls, B: int, H: int) -> _Product:
        P = np.broadcast_to(np.eye(H), (B, H, H)).copy()
        return cls(P, np.ones(B), np.ones(B), np.ones(B, bool), np.zeros(B))

    def multiply(self, J: np.ndarray, a: np.ndarray, dd: np.ndarray, slack: np.ndarray) -> None:
        """One step ``P <- J P`` for the active sequences ``a``."""
        self.P = np.where(a[:, None, None], J @ self.P, self.P)
        self.up = np.where(a, self.up * (1.0 + dd), self.up)
        self.lo = np.where(a, self.lo * (1.0 - dd), self.lo)
        self.all_small &= ~a | (dd < 1.0)
        self.slack_sum = np.where(a, self.slack_sum + slack, self.slack_sum)


def _check_direction(
    problem: Problem,
    variant: Variant,
    layer: int,
    d: int,
    inp: np.ndarray,
    hprev: np.ndarray,
    gates: GateFn,
    jacobian: JacobianFn,
) -> None:
    """The three bounds along one layer and direction: ``inp`` and ``hprev`` ``(T, B, .)``."""
    cell = problem.params.cell(layer, d)
    T, B, H = hprev.shape
    lens = problem.lengths
    active = np.ones((T, B), bool) if lens is None else np.arange(T)[:, None] < lens
    prod = _Product.identity(B, H)
    order = range(T) if d == 0 else range(T - 1, -1, -1)
    for step_no, t in enumerate(order):
        a = active[t]
        if not a.any():
            continue
        x_t, h_t = inp[t], hprev[t]
        g = gates(cell, x_t, h_t, variant)
        omz = np.asarray(g["one_minus_z"] if "one_minus_z" in g else 1.0 - g["z"])
        h_new = np.asarray(g["h"], dtype=np.float64)
        eps = np.max(omz, axis=-1)
        hinf = np.max(np.abs(h_t), axis=-1)
        K = carry_constant(cell, hinf, variant)
        dd = eps * (1.0 + K)
        slack = carry_over_slack(K, hinf)
        where = f"layer {layer}, direction {d}, t={t} (step {step_no + 1})"
        info = (eps, K, hinf, where, variant, problem)
        step = np.max(np.abs(h_new - h_t), axis=-1)
        bound = eps * (1.0 + hinf) + slack
        _require(
            a & ~(step <= bound), "the state moved more than the update gate allows", step, bound,
            "||h_t - h_{t-1}||_inf <= eps (1 + ||h_{t-1}||_inf)", info,
        )  # fmt: skip
        J = jacobian(cell, x_t, h_t, variant)
        _check_step_jacobian(J, a, dd, slack, info)
        prod.multiply(J, a, dd, slack)
        _check_product(prod, a, info)


def _check_step_jacobian(
    J: np.ndarray, a: np.ndarray, dd: np.ndarray, slack: np.ndarray, info: _Info
) -> None:
    """Bound 2: ``||J_t - I|| <= d_t`` and ``sigma_min(J_t) >= 1 - d_t`` (plus slack)."""
    H = J.shape[-1]
    s = np.linalg.svd(J - np.eye(H), compute_uv=False)[:, 0]
    _require(
        a & ~(s <= dd + slack), "the step Jacobian is too far from the identity", s, dd + slack,
        "||J_t - I||_2 <= eps (1 + K)", info,
    )  # fmt: skip
    smin = np.linalg.svd(J, compute_uv=False)[:, -1]
    bound = 1.0 - dd - slack
    _require(
        a & ~(smin >= bound), "the step Jacobian lost rank", smin, bound,
        "sigma_min(J_t) >= 1 - eps (1 + K)", info,
    )  # fmt: skip


def _check_product(prod: _Product, a: np.ndarray, info: _Info) -> None:
    """Bound 3 on the product so far: ``||P - I|| <= prod (1 + d_s) - 1`` and, while every
    ``d_s < 1``, ``sigma_min(P) >= prod (1 - d_s)`` (plus the summed slack)."""
    H = prod.P.shape[-1]
    dev = np.linalg.svd(prod.P - np.eye(H), compute_uv=False)[:, 0]
    bound = prod.up - 1.0 + prod.slack_sum * prod.up
    _require(
        a & ~(dev <= bound), "the product of step Jacobians left the identity", dev, bound,
        "||J_t ... J_1 - I||_2 <= prod (1 + d_s) - 1", info,
    )  # fmt: skip
    pmin = np.linalg.svd(prod.P, compute_uv=False)[:, -1]
    bound = prod.lo - prod.slack_sum * prod.up
    _require(
        a & prod.all_small & ~(pmin >= bound), "the product of step Jacobians lost rank", pmin,
        bound, "sigma_min(J_t ... J_1) >= prod (1 - d_s)", info,
    )  # fmt: skip


def _require(
    bad: np.ndarray, detail: str, got: np.ndarray, bound: np.ndarray, what: str, info: _Info
) -> None:
    """Raise the carry-over violation for the first sequence where ``bad`` holds, if any."""
    if bad.any():
        b = int(np.argmax(bad))
        raise _violation(detail, what, float(got[b]), float(bound[b]), b, info)


def _violation(
    detail: str,
    what: str,
    got: float,
    bound: float,
    b: int,
    info: _Info,
) -> LawViolation:
    eps, K, hinf, where, variant, problem = info
    return LawViolation(
        "carry-over",
        what,
        detail,
        {
            "got": got,
            "bound": bound,
            "eps = max(1 - z)": float(eps[b]),
            "K": float(K[b]),
            "||h_prev||_inf": float(hinf[b]),
            "where": f"{where}, batch {b}",
            "variant": variant,
        },
        problem.describe(),
    )


def from_course_update_gate(
    W_iu: np.ndarray, W_hu: np.ndarray, b_u: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The course's update gate ``G_u = sigmoid(W_iu x + W_hu h + b_u)`` (carry as ``G_u -> 0``)
    in torch's convention (carry as ``z -> 1``): ``z = 1 - G_u``, so ``(W_iz, W_hz, b_iz) =
    (-W_iu, -W_hu, -b_u)``."""
    return -np.asarray(W_iu), -np.asarray(W_hu), -np.asarray(b_u)


def time_scale_problem(
    time_scale: float,
    steps: int,
    *,
    batch: int = 2,
    input_size: int = 3,
    hidden_size: int = 4,
    seed: int = 0,
    convention: Literal["torch", "course"] = "torch",
) -> Problem:
    """The exact case of the module docstring: every unit has update gate ``1 - 1/T_c``.

    ``convention="course"`` builds the gate as the course writes it (``b_u = -ln(T_c - 1)``, i.e.
    ``G_u = 1/T_c -> 0``) and converts it with ``from_course_update_gate``; the problem is the same.
    """
    if time_scale <= 1.0:
        raise ValueError(f"time_scale must exceed 1, got {time_scale}")
    rng = np.random.default_rng(seed)
    base = random_gru_params(input_size, hidden_size, rng=rng).cell(0)
    H, I = hidden_size, input_size
    if convention == "course":
        W_iz, W_hz, b_iz = from_course_update_gate(
            np.zeros((H, I)), np.zeros((H, H)), np.full(H, -math.log(time_scale - 1.0))
        )
    elif convention == "torch":
        W_iz, W_hz, b_iz = np.zeros((H, I)), np.zeros((H, H)), np.full(H, math.log(time_scale - 1))
    else:
        raise ValueError(f"convention must be 'torch' or 'course', got {convention!r}")
    cell = base.replace(
        W_hr=np.zeros((H, H)),
        W_hn=np.zeros((H, H)),
        W_iz=W_iz,
        W_hz=W_hz,
        b_iz=b_iz,
        b_hz=np.zeros(H),
    )
    x = rng.standard_normal((steps, batch, I))
    h0 = rng.uniform(-1.0, 1.0, size=(1, batch, H))
    return Problem(StackParams(((cell,),), bias=True), x, h0)


def state_jacobian(impl: Implementation, problem: Problem) -> np.ndarray:
    """``dh_T/dh_0`` ``(B, H, H)`` of a one-layer, one-direction batched problem, from ``impl``'s
    gradients with unit cotangents on ``h_n`` (one backward call per hidden unit)."""
    p = problem.params
    if p.num_layers != 1 or p.bidirectional or not problem.batched:
        raise ValueError("state_jacobian needs a batched one-layer, one-direction problem")
    H = p.hidden_size
    B = int(np.shape(problem.x)[0 if problem.batch_first else 1])
    if problem.h0 is None:
        problem = dataclasses.replace(problem, h0=np.zeros((1, B, H)))
    J = np.empty((B, H, H))
    for i in range(H):
        d_hn = np.zeros((1, B, H))
        d_hn[0, :, i] = 1.0
        g = impl.gradients(problem, None, d_hn)
        J[:, i, :] = np.asarray(g.dh0)[0]
    return J


def law_known_time_scale(
    impl: Implementation,
    time_scale: float,
    steps: int,
    *,
    batch: int = 2,
    input_size: int = 3,
    hidden_size: int = 4,
    seed: int = 0,
    convention: Literal["torch", "course"] = "torch",
) -> None:
    """``dh_T/dh_0 = z^T I`` with ``z = sigmoid(b_iz) = 1 - 1/T_c`` (``b_iz`` as rounded to
    ``impl``'s storage format), within ``2 (3 T + 2) u z^T + 4 tiny`` (``u`` of ``impl``'s
    arithmetic: one rounding of ``z``, one per step of the product; ``tiny`` the storage format's
    smallest normal number, for gradients that underflow: ``gruverify.error_model.
    known_time_scale_tolerance``)."""
    import torch

    problem = time_scale_problem(
        time_scale,
        steps,
        batch=batch,
        input_size=input_size,
        hidden_size=hidden_size,
        seed=seed,
        convention=convention,
    )
    arith = arithmetic_of(impl)
    b = float(rounded(problem, arith.storage).params.cell(0).b_iz[0])
    z = float(sigmoid(np.array([b]))[0])
    want = z**steps
    J = state_jacobian(impl, problem)
    expected = np.broadcast_to(want * np.eye(hidden_size), J.shape)
    tiny = float(torch.finfo(getattr(torch, arith.storage)).smallest_normal)
    tol = known_time_scale_tolerance(steps, want, arith.unit_roundoff, tiny)
    err = np.abs(J - expected)
    if not np.all(err <= tol):
        idx, _ = worst_entry(err)
        raise LawViolation(
            "known time scale",
            "W_hr = W_hz = W_hn = W_iz = 0, b_iz = ln(T_c - 1) => dh_T/dh_0 = (1 - 1/T_c)^T I",
            "dh_T/dh_0 differs from z^T I",
            {
                "T_c": time_scale,
                "T": steps,
                "z": z,
                "expected": float(expected[idx]),
                "got": float(J[idx]),
                "tolerance": tol,
                "where (batch, row, col)": idx,
                "implementation": impl.name,
                "convention": convention,
            },
            problem.describe(),
        )
