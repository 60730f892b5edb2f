"""``gruverify vanishing``: how fast gradients vanish through a GRU and a tanh RNN.

Prints a text table (always), writes JSON / CSV / PNG on request, and exits 1 if any row breaks its
theoretical bound (RNN ``||dh_T/dh_0|| <= sigma_max(W)^T``; GRU ``prod(1 - d_t) <= sigma_min`` and
``||dh_T/dh_0|| <= prod(1 + d_t)``), 2 on bad arguments. See ``gruverify.analysis.vanishing`` for the math.

The main CLI registers it with ``add_vanishing_parser(subparsers)`` and calls ``run_vanishing(args)``;
``python -m gruverify.analysis.vanishing_cli ...`` runs it alone.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from gruverify.analysis import vanishing_plot
from gruverify.analysis.vanishing import (
    DEFAULT_MODELS,
    QUANTILES,
    ModelSpec,
    VanishingConfig,
    VanishingResult,
    default_steps,
    parse_model,
    vanishing_analysis,
)
from gruverify.core.arguments import positive_int
from gruverify.core.params import VARIANTS

__all__ = ["add_vanishing_parser", "build_parser", "format_report", "main", "run_vanishing"]

_DESCRIPTION = """\
Exact ||dh_T/dh_0||_2 (product of the reference's analytic step Jacobians) and ||dL/dx_1|| (L = w.h_T)
for GRUs and tanh RNNs over a log-spaced range of T, median and spread over seeds, with the
theoretical bounds: sigma_max(W)^T for the RNN, prod(1 - d_t) <= sigma_min <= norm <= prod(1 + d_t)
for the GRU (d_t = eps_t (1 + K_t), eps_t = max_i (1 - z_ti)). Also the update gate's distribution
(z in torch's notation, Gamma_u = 1 - z in the course's) and how 1 - z sets the decay rate.
Exit status: 0 all bounds hold, 1 a bound is violated, 2 bad arguments."""

_MODEL_HELP = """\
a model, repeatable (default: the five of docs/gru-math.md section 4: rnn, rnn:sigma=0.9, gru,
gru:bz=3, gru:chrono=200). Forms: rnn, rnn:sigma=S, rnn:orthogonal[,sigma=S], gru, gru:bz=B
(update-gate bias offset), gru:chrono=T_MAX, gru:exact=T_C (z = 1 - 1/T_C, recurrent weights 0),
gru:...,variant=reset_before"""


def _model_arg(text: str) -> tuple[ModelSpec, bool]:
    try:
        return parse_model(text), "variant=" in text
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _steps_arg(text: str) -> list[int]:
    try:
        steps = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--steps wants integers like 1,10,100, got {text!r}"
        ) from None
    if not steps or min(steps) < 1:
        raise argparse.ArgumentTypeError(f"--steps wants integers >= 1, got {text!r}")
    return steps


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--hidden-size", type=positive_int, default=32, help="H (default 32)")
    p.add_argument("--input-size", type=positive_int, default=8, help="I (default 8)")
    p.add_argument("--t-max", type=positive_int, default=1000, help="largest T (default 1000)")
    p.add_argument(
        "--points",
        type=positive_int,
        default=None,
        help="number of log-spaced T from 1 to --t-max (default: 1, 2, 5, 10, 20, 50, ...)",
    )
    p.add_argument("--steps", type=_steps_arg, default=None, help="explicit T list, e.g. 1,10,100")
    p.add_argument("--seeds", type=positive_int, default=20, help="seeds per model (default 20)")
    p.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    p.add_argument(
        "--model", dest="models", action="append", type=_model_arg, default=None, help=_MODEL_HELP
    )
    p.add_argument(
        "--variant",
        choices=[*VARIANTS, "both"],
        default="reset_after",
        help="GRU variant for models that do not name one (default reset_after; both: each twice)",
    )
    p.add_argument(
        "--json",
        nargs="?",
        const="-",
        default=None,
        metavar="PATH",
        help="write JSON (config, summary, gates, checks, per-seed rows); no PATH or '-': stdout "
        "(the text table then goes to stderr)",
    )
    p.add_argument("--csv", default=None, metavar="PATH", help="write one row per model, seed, T")
    p.add_argument(
        "--plot",
        default=None,
        metavar="PATH",
        help="write the gradient figure to PATH and the gate figure to PATH's stem + '_gates' "
        "(needs matplotlib: pip install 'gruverify[plot]')",
    )


def add_vanishing_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``vanishing`` on an ``argparse`` subparsers object; sets ``func=run_vanishing``."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "vanishing",
        help="vanishing gradients: GRU vs tanh RNN, exact Jacobian products and bounds",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_arguments(p)
    p.set_defaults(func=run_vanishing)
    return p


def build_parser() -> argparse.ArgumentParser:
    """A standalone parser (``prog='gruverify vanishing'``)."""
    p = argparse.ArgumentParser(
        prog="gruverify vanishing",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_arguments(p)
    return p


def _models(args: argparse.Namespace) -> tuple[ModelSpec, ...]:
    given: list[tuple[ModelSpec, bool]] = args.models or [(m, False) for m in DEFAULT_MODELS]
    variants = list(VARIANTS) if args.variant == "both" else [args.variant]
    out: list[ModelSpec] = []
    for spec, explicit in given:
        if spec.kind == "rnn" or explicit:
            choices = [spec]
        else:
            choices = [ModelSpec(**{**spec.__dict__, "variant": v}) for v in variants]
        out.extend(c for c in choices if c not in out)
    return tuple(out)


def config_from_args(args: argparse.Namespace) -> VanishingConfig:
    steps = args.steps if args.steps is not None else default_steps(args.t_max, args.points)
    return VanishingConfig(
        hidden_size=args.hidden_size,
        input_size=args.input_size,
        steps=tuple(steps),
        seeds=args.seeds,
        base_seed=args.seed,
        models=_models(args),
    )


def _g(v: float, fmt: str = "8.2f") -> str:
    width = ">" + fmt[: fmt.index(".")]
    if math.isnan(v):
        return format("n/a", width)
    if math.isinf(v):
        return format("none" if v < 0 else "inf", width)
    return format(v, fmt)


def format_report(result: VanishingResult, seconds: float | None = None) -> str:
    """The text table: per model and T, medians and 10-90% spread over seeds, bounds, gates."""
    cfg = result.config
    w = max(len(m.label) for m in cfg.models)
    lines = [
        f"gruverify vanishing: H={cfg.hidden_size}, I={cfg.input_size}, {cfg.seeds} seeds, "
        f"x_t ~ N(0, I), h_0 = 0, T = {', '.join(map(str, cfg.steps))}",
        "log10 values, median over seeds [10%..90%]. norm = ||dh_T/dh_0||_2 (exact), "
        "dL/dx1 for L = w.h_T.",
        "upper: RNN T log10 sigma_max(W_hh), GRU sum log10(1+d_t). lower: GRU sum log10(1-d_t) "
        "(valid: share of seeds with all d_t < 1; none: no bound for the median seed).",
        "diag z: log10 max_i prod_t z_ti, the decay 1 - z alone predicts (z = 1 - Gamma_u).",
        "",
        f"{'model':<{w}} {'T':>5} {'norm':>8} {'[10%..90%]':>19} {'upper':>8} {'lower':>8} "
        f"{'valid':>5} {'diag z':>8} {'dL/dx1':>8}",
    ]
    last = None
    for s in result.summary:
        if last is not None and s.model != last:
            lines.append("")
        last = s.model
        lines.append(
            f"{s.model:<{w}} {s.T:>5} {_g(s.norm_median)} "
            f"[{_g(s.norm_q10)}..{_g(s.norm_q90)}] {_g(s.upper_median)} {_g(s.lower_median)} "
            f"{_g(s.lower_valid_fraction if s.kind == 'gru' else math.nan, '5.2f')} "
            f"{_g(s.diag_median)} {_g(s.dl_dx1_median)}"
        )
    if result.gates:
        qs = "/".join(f"{q * 100:g}" for q in QUANTILES)
        lines += [
            "",
            f"update gate over steps, units and seeds (quantiles {qs}%); rates per step "
            "(natural log, median over seeds, from T_max/2 to T_max):",
            f"{'model':<{w}} {'z (torch)':<36} {'Gamma_u = 1 - z (course)':<36} "
            f"{'rate':>7} {'from z':>7} {'min_i Gamma_i':>13}",
        ]
        for g in result.gates:
            z = " ".join(f"{v:.3f}" for v in g.pooled_z)
            gam = " ".join(f"{v:.4f}" for v in g.pooled_gamma)
            lines.append(
                f"{g.model:<{w}} {z:<36} {gam:<36} {g.rate_measured:7.4f} {g.rate_diag:7.4f} "
                f"{g.slowest_gamma:13.4f}"
            )
        rnn = [(k, v) for k, v in result.rates.items() if k.startswith("RNN")]
        if rnn:
            lines.append("RNN rates: " + ", ".join(f"{k} {v:.4f}" for k, v in rnn))
    lines.append("")
    status = "all hold" if not result.violations else f"{len(result.violations)} VIOLATED"
    lines.append(
        f"bounds: {result.rows_checked} rows checked against their upper bound, "
        f"{result.lower_rows_checked} against prod(1 - d_t) (rows where it is valid and above "
        f"rounding level): {status}"
    )
    lines += [f"  {v}" for v in result.violations[:20]]
    if seconds is not None:
        lines.append(f"computed in {seconds:.1f} s")
    return "\n".join(lines) + "\n"


def _write_csv(result: VanishingResult, path: str) -> None:
    rows = result.rows()
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})


def _gates_path(path: str) -> str:
    p = Path(path)
    return str(p.with_name(p.stem + "_gates" + (p.suffix or ".png")))


def run_vanishing(args: argparse.Namespace) -> int:
    """Run the analysis for parsed ``args``; returns the exit status (0 ok, 1 violation, 2 error)."""
    try:
        config = config_from_args(args)
    except ValueError as exc:
        print(f"gruverify vanishing: error: {exc}", file=sys.stderr)
        return 2
    if args.plot:
        try:
            vanishing_plot.require_matplotlib()
        except vanishing_plot.PlotUnavailableError as exc:
            print(f"gruverify vanishing: error: {exc}", file=sys.stderr)
            return 2
    start = time.perf_counter()
    result = vanishing_analysis(config)
    seconds = time.perf_counter() - start
    text_out: TextIO = sys.stderr if args.json == "-" else sys.stdout
    text_out.write(format_report(result, seconds))
    if args.json is not None:
        doc = result.to_dict()
        doc["seconds"] = seconds
        if args.json == "-":
            json.dump(doc, sys.stdout, indent=1, allow_nan=False)
            sys.stdout.write("\n")
        else:
            Path(args.json).write_text(json.dumps(doc, indent=1, allow_nan=False) + "\n")
    if args.csv:
        _write_csv(result, args.csv)
    if args.plot:
        vanishing_plot.plot_gradients(result, args.plot)
        if result.gates:
            vanishing_plot.plot_gates(result, _gates_path(args.plot))
    return 1 if result.violations else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone entry point: ``python -m gruverify.analysis.vanishing_cli [options]``."""
    return run_vanishing(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
