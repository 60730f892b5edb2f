"""How fast gradients vanish through a GRU and a tanh RNN: exact Jacobian products and their bounds.

The question this module answers (../shared/notes/gru-math.md sections 3 and 4): with
``h_t = (1 - z_t) * n_t + z_t * h_{t-1}`` (torch's convention; the course writes
``c_t = Γ_u * c~_t + (1 - Γ_u) * c_{t-1}``, so ``Γ_u = 1 - z``), both weights are below 1, so why
does a GRU's gradient not vanish like an RNN's? Because a GRU step's Jacobian is
``J_t = D(z_t) + D(1 - z_t) (N_t - I)``, the identity plus a correction of size ``1 - z``: a unit whose
update gate saturates (``z -> 1``, ``Γ_u -> 0``) passes its gradient on almost unchanged. A tanh RNN's
step Jacobian ``D(1 - h_t^2) W`` has no identity part, so ``||dh_T/dh_0||_2 <= sigma_max(W)^T``.

For each model and seed this module runs the float64 reference forward on ``x_t ~ N(0, I)`` from
``h_0 = 0``, takes every step Jacobian from the reference's analytic formulas
(``gru_step_jacobian`` / ``rnn_step_jacobian``) and accumulates ``P_T = J_T ... J_1 = dh_T/dh_0``
once up to the largest T, reading off at each T of the grid:

- ``||P_T||_2`` and ``sigma_min(P_T)``;
- ``||dL/dx_1||_2`` for ``L = w . h_T`` with a fixed random unit vector ``w``:
  ``dL/dx_1 = w^T J_T ... J_2 (dh_1/dx_1)``;
- the bounds: RNN ``||P_T|| <= sigma_max(W_hh)^T``; GRU, with ``d_t = eps_t (1 + K_t)``,
  ``eps_t = max_i (1 - z_{t,i})`` and ``K_t`` = ``K_after`` or ``K_before`` of section 3,
  ``sigma_min(P_T) >= prod_t (1 - d_t)`` while every ``d_t < 1`` and ``||P_T|| <= prod_t (1 + d_t)``;
- the leading-order (diagonal) prediction ``max_i prod_t z_{t,i} = ||prod_t D(z_t)||``, which is what
  ``1 - z`` alone says: unit i decays by ``z_{t,i} = 1 - Γ_{t,i}`` per step, a time constant
  ``1 / (1 - z)``.

The product is kept as ``2**e * M`` with an exact power-of-two rescaling after every step, so it
never underflows and the rescaling adds no rounding; norms are reported as log10.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import numpy as np

from gruverify.core.params import (
    VARIANTS,
    GRUCellParams,
    GRUParams,
    RNNParams,
    Variant,
    random_gru_params,
    random_rnn_params,
)
from gruverify.reference.numpy_reference import (
    gru_backward,
    gru_forward,
    gru_step_jacobian,
    rnn_backward,
    rnn_forward,
    rnn_step_jacobian,
)

__all__ = [
    "DEFAULT_MODELS",
    "QUANTILES",
    "BoundViolation",
    "GateStats",
    "ModelSpec",
    "ScaledProduct",
    "SeedCurve",
    "SummaryRow",
    "VanishingConfig",
    "VanishingResult",
    "check_bounds",
    "default_steps",
    "gru_carry_terms",
    "make_params",
    "parse_model",
    "seed_curve",
    "vanishing_analysis",
]

Kind = Literal["gru", "rnn"]

#: Quantiles reported for gate distributions (over time, units and seeds).
QUANTILES: tuple[float, ...] = (0.01, 0.1, 0.5, 0.9, 0.99)

_LOG10_2 = math.log10(2.0)
_EPS = float(np.finfo(np.float64).eps)


# ---------------------------------------------------------------------------------------------
# Models: which network and which initialisation.


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One network and initialisation, written ``KIND[:key=value,...]`` on the command line.

    - ``rnn``: tanh RNN, torch's default init (uniform ``±1/sqrt(H)``); ``sigma=S`` rescales W_hh to
      ``sigma_max(W_hh) = S``; ``orthogonal`` draws W_hh orthogonal (then rescaled by ``sigma``).
    - ``gru``: GRU, torch's default init; ``bz=B`` adds B to the update-gate bias (``z -> 1``, the
      carry regime); ``chrono=T_max`` is chrono init ``b_iz + b_hz = log(U[1, T_max - 1])``;
      ``exact=T_c`` is the exact case ``W_hr = W_hz = W_hn = W_iz = 0``, ``b_z = log(T_c - 1)``, where
      ``z = 1 - 1/T_c`` and ``dh_T/dh_0 = (1 - 1/T_c)^T I``; ``variant=reset_after|reset_before``.
    """

    kind: Kind
    variant: Variant = "reset_after"
    z_bias_offset: float = 0.0
    chrono_tmax: float | None = None
    exact_tc: float | None = None
    sigma_max: float | None = None
    orthogonal: bool = False

    def __post_init__(self) -> None:
        if self.kind not in ("gru", "rnn"):
            raise ValueError(f"model kind must be 'gru' or 'rnn', got {self.kind!r}")
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown GRU variant {self.variant!r}; expected one of {VARIANTS}")
        if self.kind == "rnn":
            if self.z_bias_offset or self.chrono_tmax is not None or self.exact_tc is not None:
                raise ValueError("bz, chrono and exact apply to a GRU, not to an RNN")
            if self.variant != "reset_after":
                raise ValueError("variant applies to a GRU, not to an RNN")
            if self.sigma_max is not None and not self.sigma_max > 0:
                raise ValueError(f"sigma must be > 0, got {self.sigma_max}")
        else:
            if self.sigma_max is not None or self.orthogonal:
                raise ValueError("sigma and orthogonal apply to an RNN, not to a GRU")
            if self.chrono_tmax is not None and not self.chrono_tmax > 2:
                raise ValueError(f"chrono T_max must exceed 2, got {self.chrono_tmax}")
            if self.exact_tc is not None:
                if not self.exact_tc > 1:
                    raise ValueError(f"exact T_c must exceed 1, got {self.exact_tc}")
                if self.z_bias_offset or self.chrono_tmax is not None:
                    raise ValueError("exact=T_c fixes the update gate; drop bz and chrono")

    @property
    def label(self) -> str:
        """Human-readable name, e.g. ``GRU b_z+3`` or ``RNN sigma_max=0.9``."""
        parts = [self.kind.upper()]
        if self.kind == "rnn":
            if self.orthogonal:
                parts.append("orthogonal")
            if self.sigma_max is not None:
                parts.append(f"sigma_max={_num(self.sigma_max)}")
        else:
            if self.exact_tc is not None:
                parts.append(f"exact T_c={_num(self.exact_tc)}")
            if self.chrono_tmax is not None:
                parts.append(f"chrono {_num(self.chrono_tmax)}")
            if self.z_bias_offset:
                parts.append(f"b_z{self.z_bias_offset:+g}")
        if len(parts) == 1:
            parts.append("default")
        if self.kind == "gru" and self.variant != "reset_after":
            parts.append(f"[{self.variant}]")
        return " ".join(parts)

    @property
    def text(self) -> str:
        """The ``KIND[:key=value,...]`` form that ``parse_model`` reads back."""
        opts: list[str] = []
        if self.kind == "rnn":
            if self.orthogonal:
                opts.append("orthogonal")
            if self.sigma_max is not None:
                opts.append(f"sigma={_num(self.sigma_max)}")
        else:
            if self.exact_tc is not None:
                opts.append(f"exact={_num(self.exact_tc)}")
            if self.chrono_tmax is not None:
                opts.append(f"chrono={_num(self.chrono_tmax)}")
            if self.z_bias_offset:
                opts.append(f"bz={_num(self.z_bias_offset)}")
            if self.variant != "reset_after":
                opts.append(f"variant={self.variant}")
        return self.kind + (":" + ",".join(opts) if opts else "")


def _num(v: float) -> str:
    return f"{v:g}"


def parse_model(text: str) -> ModelSpec:
    """Read ``rnn``, ``rnn:sigma=0.9``, ``rnn:orthogonal,sigma=1``, ``gru:bz=3``, ``gru:chrono=200``,
    ``gru:exact=50``, ``gru:variant=reset_before`` ... into a ``ModelSpec`` (ValueError on bad text)."""
    kind, _, rest = text.strip().partition(":")
    kind = kind.strip().lower()
    if kind not in ("gru", "rnn"):
        raise ValueError(f"model {text!r}: kind must be 'gru' or 'rnn', got {kind!r}")
    fields: dict[str, Any] = {}
    keys = {
        "bz": "z_bias_offset",
        "chrono": "chrono_tmax",
        "exact": "exact_tc",
        "sigma": "sigma_max",
    }
    for item in filter(None, (s.strip() for s in rest.split(","))):
        key, eq, value = (s.strip() for s in item.partition("="))
        if key == "orthogonal" and not eq:
            fields["orthogonal"] = True
        elif key == "variant" and eq:
            fields["variant"] = value
        elif key in keys and eq:
            try:
                fields[keys[key]] = float(value)
            except ValueError:
                raise ValueError(f"model {text!r}: {key}={value!r} is not a number") from None
        else:
            known = (
                "orthogonal, sigma=S" if kind == "rnn" else "bz=B, chrono=T, exact=T_c, variant=V"
            )
            raise ValueError(f"model {text!r}: unknown option {item!r} (known: {known})")
    try:
        return ModelSpec(kind=kind, **fields)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ValueError(f"model {text!r}: {exc}") from None


#: The five rows of the table in gru-math.md section 4.
DEFAULT_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec("rnn"),
    ModelSpec("rnn", sigma_max=0.9),
    ModelSpec("gru"),
    ModelSpec("gru", z_bias_offset=3.0),
    ModelSpec("gru", chrono_tmax=200.0),
)


def make_params(
    spec: ModelSpec, input_size: int, hidden_size: int, rng: np.random.Generator
) -> GRUParams | RNNParams:
    """One layer of float64 parameters drawn as ``spec`` says (see ``ModelSpec``)."""
    if spec.kind == "rnn":
        return random_rnn_params(
            input_size, hidden_size, rng=rng, sigma_max=spec.sigma_max, orthogonal=spec.orthogonal
        )
    params = random_gru_params(
        input_size,
        hidden_size,
        rng=rng,
        z_bias_offset=spec.z_bias_offset,
        chrono_tmax=spec.chrono_tmax,
    )
    if spec.exact_tc is not None:
        cell = params.cell(0)
        zero_h = np.zeros_like(cell.W_hr)
        cell = cell.replace(
            W_hr=zero_h,
            W_hz=zero_h,
            W_hn=zero_h,
            W_iz=np.zeros_like(cell.W_iz),
            b_iz=np.full(hidden_size, math.log(spec.exact_tc - 1.0)),
            b_hz=np.zeros(hidden_size),
        )
        params = params.replace_cell(0, 0, cell)
    return params


# ---------------------------------------------------------------------------------------------
# The product of step Jacobians, without underflow.


class ScaledProduct:
    """``P = 2**exponent * matrix``, updated by ``P <- J P``; rescaled by exact powers of two.

    After each update the largest entry of ``matrix`` lies in [0.5, 1), so ``P`` can fall far below
    the smallest float64 (1e-308) without underflow, and no rounding beyond the matmul's own occurs.
    """

    def __init__(self, matrix: np.ndarray) -> None:
        self.matrix = np.array(matrix, dtype=np.float64)
        self.exponent = 0
        self._rescale()

    def _rescale(self) -> None:
        peak = float(np.max(np.abs(self.matrix))) if self.matrix.size else 0.0
        if peak == 0.0 or not math.isfinite(peak):
            return
        _, e = math.frexp(peak)
        self.matrix = np.ldexp(self.matrix, -e)
        self.exponent += e

    def left_multiply(self, J: np.ndarray) -> None:
        self.matrix = J @ self.matrix
        self._rescale()

    def log10_singular_values(self, right: np.ndarray | None = None) -> np.ndarray:
        """log10 of the singular values of ``P @ right`` (``P`` when None), largest first."""
        m = self.matrix if right is None else self.matrix @ right
        with np.errstate(divide="ignore"):
            sv = np.log10(np.linalg.svd(m, compute_uv=False))
        return sv + self.exponent * _LOG10_2  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------------------------
# One model, one seed.


def gru_carry_terms(
    cell: GRUCellParams[np.ndarray],
    one_minus_z: np.ndarray,
    h_prev: np.ndarray,
    variant: Variant,
) -> tuple[np.ndarray, np.ndarray]:
    """``(eps_t, K_t)`` per step of gru-math.md section 3, for gate traces ``(T, H)``.

    ``eps_t = max_i (1 - z_{t,i})``, ``hinf = ||h_{t-1}||_inf``, spectral norms ``||.||``:
    ``K_after = ||W_hn|| + (1/4) ginf ||W_hr|| + (1 + hinf) ||W_hz||`` with
    ``ginf = ||W_hn||_inf hinf + ||b_hn||_inf``;
    ``K_before = ||W_hn|| (1 + (1/4) hinf ||W_hr||) + (1 + hinf) ||W_hz||``.
    Then ``||J_t - I|| <= d_t = eps_t (1 + K_t)``.
    """
    eps = np.max(one_minus_z, axis=1)
    hinf = np.max(np.abs(h_prev), axis=1)
    n_hn, n_hr, n_hz = (float(np.linalg.norm(w, 2)) for w in (cell.W_hn, cell.W_hr, cell.W_hz))
    if variant == "reset_after":
        ginf = float(np.linalg.norm(cell.W_hn, np.inf)) * hinf + float(np.max(np.abs(cell.b_hn)))
        K = n_hn + 0.25 * ginf * n_hr + (1.0 + hinf) * n_hz
    elif variant == "reset_before":
        K = n_hn * (1.0 + 0.25 * hinf * n_hr) + (1.0 + hinf) * n_hz
    else:
        raise ValueError(f"unknown GRU variant {variant!r}; expected one of {VARIANTS}")
    return eps, K


@dataclasses.dataclass(frozen=True)
class SeedCurve:
    """Everything measured for one model and seed, at each T of ``steps`` (arrays of that length).

    log10 values throughout. ``log10_lower`` is ``sum log10(1 - d_t)`` (GRU; ``-inf`` once some
    ``d_t >= 1``, where the bound says only ``sigma_min >= 0``; NaN for the RNN). ``log10_upper`` is
    ``T log10 sigma_max(W_hh)`` (RNN) or ``sum log10(1 + d_t)`` (GRU). ``log10_diag`` is
    ``log10 max_i prod_t z_{t,i}`` (GRU; NaN for the RNN). ``z`` and ``one_minus_z`` are the
    update-gate values ``(T_max, H)`` (GRU only), ``d`` the per-step ``d_t`` (GRU only).
    """

    spec: ModelSpec
    seed: int
    steps: np.ndarray
    log10_norm: np.ndarray
    log10_sigma_min: np.ndarray
    log10_dl_dx1: np.ndarray
    log10_upper: np.ndarray
    log10_lower: np.ndarray
    log10_diag: np.ndarray
    lower_valid: np.ndarray
    hidden_size: int
    sigma_max_w: float | None = None
    z: np.ndarray | None = None
    one_minus_z: np.ndarray | None = None
    d: np.ndarray | None = None


def _first_input_jacobian(
    spec: ModelSpec, params: GRUParams | RNNParams, x1: np.ndarray, h0: np.ndarray
) -> np.ndarray:
    """``dh_1/dx_1`` ``(H, I)`` from the reference's analytic backward pass (batch of H unit
    cotangents, one step)."""
    H = params.hidden_size
    xb = np.broadcast_to(x1, (1, H, x1.size)).copy()
    hb = np.broadcast_to(h0, (1, H, H)).copy()
    eye = np.eye(H)[None]
    if spec.kind == "gru":
        g = gru_backward(params, xb, hb, d_h_n=eye, variant=spec.variant)  # type: ignore[arg-type]
    else:
        g = rnn_backward(params, xb, hb, d_h_n=eye)  # type: ignore[arg-type]
    return np.asarray(g.dx[0])


def seed_curve(
    spec: ModelSpec,
    params: GRUParams | RNNParams,
    x: np.ndarray,
    w: np.ndarray,
    steps: Sequence[int],
    *,
    seed: int = 0,
    chunk: int = 128,
) -> SeedCurve:
    """Measure one model on one input sequence ``x (T_max, I)`` from ``h_0 = 0``.

    ``P_T = J_T ... J_1`` with ``J_t = dh_t/dh_{t-1}`` from ``gru_step_jacobian`` /
    ``rnn_step_jacobian`` at the forward pass's states, accumulated once (``ScaledProduct``);
    ``dL/dx_1 = w^T J_T ... J_2 (dh_1/dx_1)`` for ``L = w . h_T``. See the module docstring.
    """
    grid = np.asarray(sorted(set(int(t) for t in steps)), dtype=np.int64)
    x = np.asarray(x, dtype=np.float64)
    if grid.size == 0 or grid[0] < 1:
        raise ValueError(f"steps must be integers >= 1, got {list(steps)}")
    t_max = int(grid[-1])
    if x.ndim != 2 or x.shape[0] < t_max or x.shape[1] != params.input_size:
        raise ValueError(
            f"x must have shape (T >= {t_max}, {params.input_size}), got {tuple(x.shape)}"
        )
    if params.num_layers != 1 or params.num_directions != 1:
        raise ValueError("vanishing-gradient analysis takes one layer, one direction")
    H = params.hidden_size
    x = x[:t_max]
    cell: Any = params.cell(0)
    h0 = np.zeros(H)
    if spec.kind == "gru":
        fwd = gru_forward(params, x[:, None, :], variant=spec.variant)  # type: ignore[arg-type]
    else:
        fwd = rnn_forward(params, x[:, None, :])  # type: ignore[arg-type]
    trace = {k: v[:, 0, :] for k, v in fwd.traces[0][0].items()}
    h_prev = trace["h_prev"]

    def jacobians(lo: int, hi: int) -> np.ndarray:
        if spec.kind == "gru":
            return gru_step_jacobian(cell, x[lo:hi], h_prev[lo:hi], variant=spec.variant)
        return rnn_step_jacobian(cell, x[lo:hi], h_prev[lo:hi])

    J1 = jacobians(0, 1)[0]
    B1 = _first_input_jacobian(spec, params, x[0], h0)
    wn = np.asarray(w, dtype=np.float64)
    wn = wn / np.linalg.norm(wn)
    R = ScaledProduct(np.eye(H))  # J_t ... J_2
    G = grid.size
    log_norm, log_smin, log_dl = np.empty(G), np.empty(G), np.empty(G)
    k = 0
    for lo in range(0, t_max, chunk):
        block = jacobians(lo, min(lo + chunk, t_max))
        for j, J in enumerate(block):
            t = lo + j + 1
            if t > 1:
                R.left_multiply(J)
            if t == grid[k]:
                sv = R.log10_singular_values(J1)
                log_norm[k], log_smin[k] = sv[0], sv[-1]
                v = wn @ R.matrix @ B1
                with np.errstate(divide="ignore"):
                    log_dl[k] = np.log10(np.linalg.norm(v)) + R.exponent * _LOG10_2
                k += 1
    idx = grid - 1
    nan = np.full(G, np.nan)
    if spec.kind == "rnn":
        smax = float(np.linalg.norm(cell.W_hh, 2))
        upper = grid * math.log10(smax)
        return SeedCurve(
            spec, seed, grid, log_norm, log_smin, log_dl, upper, nan, nan,
            np.zeros(G, dtype=bool), H, sigma_max_w=smax,
        )  # fmt: skip
    omz, z = trace["one_minus_z"], trace["z"]
    eps, K = gru_carry_terms(cell, omz, h_prev, spec.variant)
    d = eps * (1.0 + K)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_lo_step = np.where(d < 1.0, np.log10(np.where(d < 1.0, 1.0 - d, 1.0)), -np.inf)
    valid = np.cumsum(d >= 1.0)[idx] == 0
    lower = np.cumsum(log_lo_step)[idx]
    upper = np.cumsum(np.log10(1.0 + d))[idx]
    # log z = -log(1 + exp(-a_z)), without forming 1 - (1 - z).
    log_z = -np.logaddexp(0.0, -trace["a_z"])
    diag = np.max(np.cumsum(log_z, axis=0)[idx], axis=1) / math.log(10.0)
    return SeedCurve(
        spec, seed, grid, log_norm, log_smin, log_dl, upper, lower, diag, valid, H,
        z=z, one_minus_z=omz, d=d,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Many models and seeds.


def default_steps(t_max: int = 1000, points: int | None = None) -> list[int]:
    """The T grid: ``1, 2, 5, 10, 20, 50, ...`` up to ``t_max`` (plus ``t_max``), or, with
    ``points``, that many log-spaced integers from 1 to ``t_max`` (duplicates merged)."""
    if t_max < 1:
        raise ValueError(f"t_max must be >= 1, got {t_max}")
    if points is not None:
        if points < 1:
            raise ValueError(f"points must be >= 1, got {points}")
        return sorted({round(float(v)) for v in np.geomspace(1, t_max, points)} | {t_max})
    out: set[int] = {t_max}
    decade = 1
    while decade <= t_max:
        out.update(m * decade for m in (1, 2, 5) if m * decade <= t_max)
        decade *= 10
    return sorted(out)


@dataclasses.dataclass(frozen=True)
class VanishingConfig:
    """What to measure: sizes, the T grid, seeds and models (``x_t ~ N(0, I)``, ``h_0 = 0``).

    Seed s of every model uses the same input sequence and loss direction (common random numbers),
    drawn from ``numpy.random.default_rng((base_seed, s, ...))``.
    """

    hidden_size: int = 32
    input_size: int = 8
    steps: tuple[int, ...] = tuple(default_steps(1000))
    seeds: int = 20
    base_seed: int = 0
    models: tuple[ModelSpec, ...] = DEFAULT_MODELS

    def __post_init__(self) -> None:
        if self.hidden_size < 1 or self.input_size < 1:
            raise ValueError(
                f"sizes must be >= 1, got hidden_size={self.hidden_size}, "
                f"input_size={self.input_size}"
            )
        if self.seeds < 1:
            raise ValueError(f"seeds must be >= 1, got {self.seeds}")
        if not self.steps or min(self.steps) < 1:
            raise ValueError(f"steps must be a non-empty list of integers >= 1, got {self.steps}")
        if not self.models:
            raise ValueError("no models to analyse")
        object.__setattr__(self, "steps", tuple(sorted(set(int(t) for t in self.steps))))

    @property
    def t_max(self) -> int:
        return self.steps[-1]

    def to_dict(self) -> dict[str, Any]:
        return {
            "hidden_size": self.hidden_size,
            "input_size": self.input_size,
            "steps": list(self.steps),
            "seeds": self.seeds,
            "base_seed": self.base_seed,
            "models": [m.text for m in self.models],
            "input": "x_t ~ N(0, I), h_0 = 0",
            "loss": "L = w . h_T, w a random unit vector per seed",
        }


@dataclasses.dataclass(frozen=True)
class SummaryRow:
    """Median and spread over seeds of one model at one T (log10 values)."""

    model: str
    kind: str
    T: int
    seeds: int
    norm_median: float
    norm_q10: float
    norm_q90: float
    norm_min: float
    norm_max: float
    sigma_min_median: float
    dl_dx1_median: float
    dl_dx1_q10: float
    dl_dx1_q90: float
    upper_median: float
    lower_median: float
    lower_valid_fraction: float
    diag_median: float


@dataclasses.dataclass(frozen=True)
class GateStats:
    """The update gate of one GRU model over time, units and seeds.

    ``pooled_z`` / ``pooled_gamma``: quantiles ``QUANTILES`` of ``z`` and of the course's
    ``Γ_u = 1 - z`` over all steps, units and seeds. ``per_step``: ``(T_max, 3)`` arrays of the 10%,
    50% and 90% quantiles of z at each step (over units and seeds). Rates are per step, natural log,
    median over seeds, measured between ``T_a`` (the largest grid T <= T_max / 2, or 0) and T_max:
    ``rate_measured = -Δ ln||P_T|| / ΔT``, ``rate_diag = -Δ ln max_i prod z_{t,i} / ΔT`` (the
    prediction from ``z`` alone) and ``slowest_gamma = min_i mean_t (1 - z_{t,i})`` (its
    first-order form: the slowest unit's decay rate, time constant ``1 / slowest_gamma``).
    """

    model: str
    pooled_z: tuple[float, ...]
    pooled_gamma: tuple[float, ...]
    per_step_z: np.ndarray
    rate_measured: float
    rate_diag: float
    slowest_gamma: float
    rates_measured: tuple[float, ...]
    rates_diag: tuple[float, ...]
    slowest_gammas: tuple[float, ...]


@dataclasses.dataclass(frozen=True)
class BoundViolation:
    """One row where a measured norm breaks its theoretical bound (numbers in log10)."""

    model: str
    seed: int
    T: int
    bound: str
    measured: float
    limit: float

    def __str__(self) -> str:
        return (
            f"{self.model} seed {self.seed} T={self.T}: {self.bound} violated: "
            f"measured log10 {self.measured:.6g}, limit log10 {self.limit:.6g}"
        )


@dataclasses.dataclass(frozen=True)
class VanishingResult:
    config: VanishingConfig
    curves: tuple[SeedCurve, ...]
    summary: tuple[SummaryRow, ...]
    gates: tuple[GateStats, ...]
    rates: dict[str, float]
    violations: tuple[BoundViolation, ...]
    rows_checked: int
    lower_rows_checked: int

    def curves_of(self, spec: ModelSpec) -> list[SeedCurve]:
        return [c for c in self.curves if c.spec == spec]

    def rows(self) -> list[dict[str, Any]]:
        """One flat record per (model, seed, T): the per-seed values and their bounds."""
        out = []
        for c in self.curves:
            for k, T in enumerate(c.steps):
                out.append(
                    {
                        "model": c.spec.label,
                        "spec": c.spec.text,
                        "kind": c.spec.kind,
                        "variant": c.spec.variant if c.spec.kind == "gru" else None,
                        "seed": c.seed,
                        "T": int(T),
                        "log10_norm": _f(c.log10_norm[k]),
                        "log10_sigma_min": _f(c.log10_sigma_min[k]),
                        "log10_dl_dx1": _f(c.log10_dl_dx1[k]),
                        "log10_upper_bound": _f(c.log10_upper[k]),
                        "upper_bound": "sigma_max(W)^T" if c.spec.kind == "rnn" else "prod(1+d_t)",
                        "log10_lower_bound": _f(c.log10_lower[k]),
                        "lower_bound": None if c.spec.kind == "rnn" else "prod(1-d_t)",
                        "lower_bound_valid": bool(c.lower_valid[k]),
                        "log10_diag_z": _f(c.log10_diag[k]),
                    }
                )
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: config, summary, gates, rates, bound checks and the per-seed rows.

        Non-finite numbers become None (JSON has no NaN; a -inf lower bound means none applies).
        """
        return {
            "config": self.config.to_dict(),
            "quantity": {
                "log10_norm": "log10 ||dh_T/dh_0||_2 (exact product of analytic step Jacobians)",
                "log10_sigma_min": "log10 sigma_min(dh_T/dh_0)",
                "log10_dl_dx1": "log10 ||dL/dx_1||_2, L = w . h_T",
                "log10_upper_bound": "RNN: T log10 sigma_max(W_hh); GRU: sum log10(1 + d_t)",
                "log10_lower_bound": "GRU: sum log10(1 - d_t) while all d_t < 1 (bounds sigma_min)",
                "log10_diag_z": "GRU: log10 max_i prod_t z_ti (the prediction from z alone)",
                "gamma": "the course's update gate Γ_u = 1 - z (torch z)",
            },
            "summary": [{k: _f(v) for k, v in dataclasses.asdict(s).items()} for s in self.summary],
            "gates": [
                {
                    "model": g.model,
                    "quantiles": list(QUANTILES),
                    "pooled_z": [_f(v) for v in g.pooled_z],
                    "pooled_gamma": [_f(v) for v in g.pooled_gamma],
                    "z_q10_q50_q90_at_T": {
                        str(T): [_f(v) for v in g.per_step_z[T - 1]] for T in self.config.steps
                    },
                    "rate_measured": _f(g.rate_measured),
                    "rate_diag": _f(g.rate_diag),
                    "slowest_gamma": _f(g.slowest_gamma),
                }
                for g in self.gates
            ],
            "rates_measured": {k: _f(v) for k, v in self.rates.items()},
            "checks": {
                "rows_checked": self.rows_checked,
                "lower_bound_rows_checked": self.lower_rows_checked,
                "violations": [str(v) for v in self.violations],
            },
            "rows": self.rows(),
        }


def _f(v: Any) -> Any:
    if isinstance(v, (float, np.floating)):
        return float(v) if math.isfinite(v) else None
    if isinstance(v, np.integer):
        return int(v)
    return v


def _rate(curve_vals: np.ndarray, steps: np.ndarray) -> float:
    """``-Δ ln(value) / ΔT`` between the largest grid T <= T_max/2 (or T = 0, value 1) and T_max."""
    t_max = int(steps[-1])
    early = np.nonzero(steps <= t_max / 2)[0]
    t_a, v_a = (int(steps[early[-1]]), float(curve_vals[early[-1]])) if early.size else (0, 0.0)
    if t_max == t_a:
        return math.nan
    return -(float(curve_vals[-1]) - v_a) * math.log(10.0) / (t_max - t_a)


def _summarise(spec: ModelSpec, curves: list[SeedCurve]) -> list[SummaryRow]:
    names: tuple[str, ...] = ("log10_norm", "log10_sigma_min", "log10_dl_dx1", "log10_upper")
    names += ("log10_lower", "log10_diag", "lower_valid")
    stack = {name: np.stack([getattr(c, name) for c in curves]) for name in names}
    rows = []
    for k, T in enumerate(curves[0].steps):

        def col(name: str, k: int = k) -> np.ndarray:
            return stack[name][:, k]

        def q(name: str, p: float, k: int = k) -> float:
            # The lower bound is -inf on seeds where it does not apply: no interpolation there.
            if name == "log10_lower":
                return float(np.quantile(stack[name][:, k], p, method="inverted_cdf"))
            return float(np.quantile(stack[name][:, k], p))

        rows.append(
            SummaryRow(
                model=spec.label,
                kind=spec.kind,
                T=int(T),
                seeds=len(curves),
                norm_median=q("log10_norm", 0.5),
                norm_q10=q("log10_norm", 0.1),
                norm_q90=q("log10_norm", 0.9),
                norm_min=float(np.min(col("log10_norm"))),
                norm_max=float(np.max(col("log10_norm"))),
                sigma_min_median=q("log10_sigma_min", 0.5),
                dl_dx1_median=q("log10_dl_dx1", 0.5),
                dl_dx1_q10=q("log10_dl_dx1", 0.1),
                dl_dx1_q90=q("log10_dl_dx1", 0.9),
                upper_median=q("log10_upper", 0.5),
                lower_median=q("log10_lower", 0.5) if spec.kind == "gru" else math.nan,
                lower_valid_fraction=float(np.mean(col("lower_valid"))),
                diag_median=q("log10_diag", 0.5) if spec.kind == "gru" else math.nan,
            )
        )
    return rows


def _gate_stats(spec: ModelSpec, curves: list[SeedCurve]) -> GateStats:
    z = np.stack([c.z for c in curves if c.z is not None])  # (S, T, H)
    omz = np.stack([c.one_minus_z for c in curves if c.one_minus_z is not None])
    S, T, H = z.shape
    per_step = np.quantile(z.transpose(1, 0, 2).reshape(T, S * H), (0.1, 0.5, 0.9), axis=1).T
    measured = tuple(_rate(c.log10_norm, c.steps) for c in curves)
    diag = tuple(_rate(c.log10_diag, c.steps) for c in curves)
    slowest = [float(np.min(np.mean(o, axis=0))) for o in omz]
    return GateStats(
        model=spec.label,
        pooled_z=tuple(float(v) for v in np.quantile(z, QUANTILES)),
        pooled_gamma=tuple(float(v) for v in np.quantile(omz, QUANTILES)),
        per_step_z=per_step,
        rate_measured=float(np.median(measured)),
        rate_diag=float(np.median(diag)),
        slowest_gamma=float(np.median(slowest)),
        rates_measured=measured,
        rates_diag=diag,
        slowest_gammas=tuple(slowest),
    )


def check_bounds(curves: Iterable[SeedCurve]) -> tuple[list[BoundViolation], int, int]:
    """Check every (model, seed, T) row against its theorem; returns (violations, rows, lower rows).

    - RNN: ``||P_T|| <= sigma_max(W_hh)^T`` (Pascanu et al. 2013; ``tanh' <= 1``).
    - GRU: ``||P_T|| <= prod (1 + d_t)`` and, while every ``d_t < 1``,
      ``sigma_min(P_T) >= prod (1 - d_t)`` (gru-math.md section 3).

    Rounding slack: the computed product's error is at most about ``T H u prod ||J_t||`` and
    ``prod ||J_t||`` is below the upper bound, so both checks allow ``s = 4 T H u * upper``
    (u = 2.2e-16): ``norm <= upper (1 + 4 T H u)`` and ``sigma_min >= lower - s``. A lower bound
    below ``s`` cannot be checked in float64 and is not counted in the lower-bound rows.
    """
    violations: list[BoundViolation] = []
    rows = lower_rows = 0
    for c in curves:
        for k, T in enumerate(c.steps):
            rows += 1
            rel = 4.0 * int(T) * c.hidden_size * _EPS
            limit = float(c.log10_upper[k]) + math.log10(1.0 + rel)
            if not c.log10_norm[k] <= limit:
                violations.append(
                    BoundViolation(
                        c.spec.label, c.seed, int(T),
                        "||dh_T/dh_0|| <= " + ("sigma_max(W)^T" if c.spec.kind == "rnn"
                                               else "prod(1+d_t)"),
                        float(c.log10_norm[k]), limit,
                    )
                )  # fmt: skip
            if c.spec.kind != "gru" or not c.lower_valid[k]:
                continue
            lo = float(c.log10_lower[k])
            slack = math.log10(rel) + float(c.log10_upper[k])
            if lo <= slack:
                continue
            lower_rows += 1
            need = lo + math.log10(1.0 - 10.0 ** (slack - lo))
            if not c.log10_sigma_min[k] >= need:
                violations.append(
                    BoundViolation(
                        c.spec.label, c.seed, int(T), "sigma_min(dh_T/dh_0) >= prod(1-d_t)",
                        float(c.log10_sigma_min[k]), need,
                    )
                )  # fmt: skip
    return violations, rows, lower_rows


def vanishing_analysis(config: VanishingConfig | None = None) -> VanishingResult:
    """Run every model of ``config`` on ``config.seeds`` seeds; summarise and check the bounds."""
    config = config or VanishingConfig()
    curves: list[SeedCurve] = []
    summary: list[SummaryRow] = []
    gates: list[GateStats] = []
    rates: dict[str, float] = {}
    for spec in config.models:
        mine = []
        for s in range(config.seeds):
            rng_p = np.random.default_rng((config.base_seed, s, 0))
            rng_x = np.random.default_rng((config.base_seed, s, 1))
            x = rng_x.standard_normal((config.t_max, config.input_size))
            w = rng_x.standard_normal(config.hidden_size)
            params = make_params(spec, config.input_size, config.hidden_size, rng_p)
            mine.append(seed_curve(spec, params, x, w, config.steps, seed=s))
        curves.extend(mine)
        summary.extend(_summarise(spec, mine))
        rates[spec.label] = float(np.median([_rate(c.log10_norm, c.steps) for c in mine]))
        if spec.kind == "gru":
            gates.append(_gate_stats(spec, mine))
    violations, rows, lower_rows = check_bounds(curves)
    return VanishingResult(
        config, tuple(curves), tuple(summary), tuple(gates), rates, tuple(violations),
        rows, lower_rows,
    )  # fmt: skip
