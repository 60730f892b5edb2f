"""Figures for ``gruverify vanishing`` (matplotlib, an optional extra, imported only when plotting).

- ``plot_gradients``: log10 ||dh_T/dh_0||_2 and log10 ||dL/dx_1|| against T (log axis), the median over
  seeds as a line, the 10-90% band over seeds shaded, and the theoretical bounds dashed (RNN
  ``sigma_max(W)^T``, GRU ``prod(1 - d_t)`` where valid for the median seed).
- ``plot_gates``: the update gate z (torch; the course's ``Γ_u = 1 - z`` on the right axis) over
  time, median and 10-90% band over units and seeds; and each seed's measured decay rate per step
  against the slowest unit's mean ``1 - z``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gruverify.analysis.vanishing import VanishingResult

__all__ = ["PlotUnavailableError", "plot_gates", "plot_gradients", "require_matplotlib"]


class PlotUnavailableError(ImportError):
    """matplotlib is not installed."""


def require_matplotlib() -> Any:
    """Import matplotlib with the non-interactive Agg backend, or raise ``PlotUnavailableError``."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise PlotUnavailableError(
            f"plotting needs matplotlib, which is not importable ({exc}); "
            "install it with: pip install 'gruverify[plot]'"
        ) from exc
    return plt


def _colors(n: int) -> list[Any]:
    plt = require_matplotlib()
    cmap = plt.get_cmap("tab10")
    return [cmap(i % 10) for i in range(n)]


def _gradient_panel(
    ax: Any, result: VanishingResult, name: str, colors: list[Any], bounds: bool
) -> None:
    for spec, color in zip(result.config.models, colors, strict=True):
        curves = result.curves_of(spec)
        steps = curves[0].steps
        vals = np.stack([getattr(c, name) for c in curves])
        lo, med, hi = np.quantile(vals, (0.1, 0.5, 0.9), axis=0)
        ax.fill_between(steps, lo, hi, color=color, alpha=0.2, lw=0)
        ax.plot(steps, med, color=color, lw=2, marker="o", ms=3, label=spec.label)
        if not bounds:
            continue
        field = "log10_upper" if spec.kind == "rnn" else "log10_lower"
        bound = np.median(np.stack([getattr(c, field) for c in curves]), axis=0)
        ok = np.isfinite(bound)
        if ok.any():
            ax.plot(steps[ok], bound[ok], color=color, ls="--", lw=1.3)
    ax.grid(True, which="both", alpha=0.3)
    ax.axhline(0.0, color="black", lw=0.6)
    ax.set_xlabel("T (steps)")


def plot_gradients(result: VanishingResult, path: str) -> None:
    """Write the gradient-norm figure to ``path``: ``log10 ||dh_T/dh_0||`` against T on a linear
    axis (exponential decay is a straight line, its slope the rate), the same on a log axis zoomed
    to the first orders of magnitude, and ``log10 ||dL/dx_1||``."""
    plt = require_matplotlib()
    cfg = result.config
    colors = _colors(len(cfg.models))
    fig, axes = plt.subplots(1, 3, figsize=(18, 5.6), constrained_layout=True)
    _gradient_panel(axes[0], result, "log10_norm", colors, bounds=True)
    axes[0].plot([], [], color="gray", ls="--", label="bound: RNN σ_max(W)^T, GRU ∏(1 − d_t)")
    axes[0].set_title("log10 ‖dh_T / dh_0‖₂ (exact), bounds dashed")
    axes[0].set_ylabel("log10 norm: median over seeds, 10–90% band")
    axes[0].legend(fontsize=8, loc="lower left")
    _gradient_panel(axes[1], result, "log10_norm", colors, bounds=True)
    axes[1].set_xscale("log")
    axes[1].set_ylim(-20.0, 2.0)
    axes[1].set_title("the same, log T axis, zoomed to 20 orders of magnitude")
    _gradient_panel(axes[2], result, "log10_dl_dx1", colors, bounds=False)
    axes[2].set_title("log10 ‖dL / dx_1‖₂,  L = w · h_T")
    fig.suptitle(
        f"Vanishing gradients, GRU vs tanh RNN: H = {cfg.hidden_size}, I = {cfg.input_size}, "
        f"{cfg.seeds} seeds, x_t ~ N(0, I), h_0 = 0",
        fontsize=11,
    )
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_gates(result: VanishingResult, path: str) -> None:
    """Write the update-gate figure (z over time; decay rate vs 1 - z) to ``path``."""
    plt = require_matplotlib()
    cfg = result.config
    gru_specs = [s for s in cfg.models if s.kind == "gru"]
    colors = dict(zip(cfg.models, _colors(len(cfg.models)), strict=True))
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.2), constrained_layout=True)
    ax = axes[0]
    t = np.arange(1, cfg.t_max + 1)
    for spec, g in zip(gru_specs, result.gates, strict=True):
        q10, q50, q90 = g.per_step_z.T
        ax.fill_between(t, q10, q90, color=colors[spec], alpha=0.2, lw=0)
        ax.plot(t, q50, color=colors[spec], lw=1.8, label=spec.label)
    ax.set_xscale("log")
    ax.set_ylim(0.0, 1.0)
    ax.set_xlabel("step t")
    ax.set_ylabel("update gate z  (torch: h_t = (1 − z) n_t + z h_(t−1))")
    sec = ax.secondary_yaxis("right", functions=(lambda v: 1.0 - v, lambda v: 1.0 - v))
    sec.set_ylabel("Γ_u = 1 − z  (course: c_t = Γ_u c̃_t + (1 − Γ_u) c_(t−1))")
    ax.set_title("update gate over time: median and 10–90% over units and seeds")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")

    ax = axes[1]
    lo_all, hi_all = math.inf, 0.0
    for spec, g in zip(gru_specs, result.gates, strict=True):
        x = np.asarray(g.slowest_gammas)
        y = np.asarray(g.rates_measured)
        ok = (x > 0) & (y > 0)
        if ok.any():
            ax.scatter(x[ok], y[ok], color=colors[spec], s=18, label=spec.label)
            lo_all = min(lo_all, float(x[ok].min()), float(y[ok].min()))
            hi_all = max(hi_all, float(x[ok].max()), float(y[ok].max()))
    if math.isfinite(lo_all) and hi_all > 0:
        line = np.array([lo_all / 2, hi_all * 2])
        ax.plot(line, line, color="black", lw=0.8, ls="--", label="rate = Γ_u = 1 − z")
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_xlabel("min_i mean_t (1 − z_ti): the slowest unit's Γ_u")
    ax.set_ylabel("measured decay rate per step,  −Δ ln‖dh_T/dh_0‖ / ΔT")
    ax.set_title("1 − z sets the decay rate (one point per seed)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.savefig(path, dpi=100)
    plt.close(fig)
