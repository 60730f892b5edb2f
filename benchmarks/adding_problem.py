"""The adding problem (Hochreiter & Schmidhuber 1997) at T = 100: a small GRU vs a tanh RNN.

Not part of CI (it trains networks for a minute or two on CPU). Each input step carries two
channels: a value ``u_t ~ U[0, 1]`` and a marker that is 1 at exactly two steps, one in the first
half of the sequence and one in the second, 0 elsewhere. The target is the sum of the two marked
values. Always answering 1 (the target's mean) gives MSE ``Var(u_a + u_b) = 2/12 = 0.1667``; a model
beats that only if the gradient of the loss at step T reaches back to the first marked step, up to
T - 1 = 99 steps earlier: exactly the quantity ``gruverify vanishing`` measures at initialisation.

Both models: one recurrent layer (torch.nn.GRU / torch.nn.RNN with tanh, torch's default init),
hidden size H, a linear read-out of h_T; the same data, optimiser (Adam), learning rate, batch size,
gradient clipping and number of steps. Test MSE on a fixed held-out set of 2000 sequences.

    python benchmarks/adding_problem.py                    # H = 64, 1500 steps, seeds 0 and 1
    python benchmarks/adding_problem.py --steps 3000 --json out.json
"""

from __future__ import annotations

import argparse
import json
import math
import time
from typing import Any

import numpy as np
import torch
from torch import nn

from gruverify.analysis.vanishing import ModelSpec, seed_curve
from gruverify.layouts.torch_layout import gru_from_torch, rnn_from_torch

BASELINE_MSE = 2.0 / 12.0


def adding_batch(
    batch: int, T: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``x (batch, T, 2)`` and targets ``(batch,)``: one marker in each half of the sequence."""
    values = torch.rand(batch, T, generator=generator)
    first = torch.randint(0, T // 2, (batch,), generator=generator)
    second = torch.randint(T // 2, T, (batch,), generator=generator)
    markers = torch.zeros(batch, T)
    rows = torch.arange(batch)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    x = torch.stack([values, markers], dim=2)
    y = values[rows, first] + values[rows, second]
    return x, y


class Regressor(nn.Module):
    def __init__(self, cell: str, hidden: int) -> None:
        super().__init__()
        rnn_cls = {"gru": nn.GRU, "rnn": nn.RNN}[cell]
        self.rnn = rnn_cls(2, hidden, batch_first=True)
        self.out = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, h_n = self.rnn(x)
        y: torch.Tensor = self.out(h_n[-1]).squeeze(-1)
        return y


def gradient_report(model: Regressor, cell: str, x: torch.Tensor) -> dict[str, Any]:
    """Exact ``log10 ||dh_T/dh_0||`` of the recurrent layer on each sequence of ``x`` (float64
    reference, gruverify.analysis.vanishing), and for a GRU the quantiles of ``Γ_u = 1 - z`` over steps, units
    and sequences plus the slowest unit's mean ``Γ_u`` (median over sequences): its time constant is
    about ``1 / Γ_u`` steps."""
    sd = {k: v.detach() for k, v in model.rnn.state_dict().items()}
    params = gru_from_torch(sd) if cell == "gru" else rnn_from_torch(sd)
    spec = ModelSpec(cell)  # type: ignore[arg-type]
    T = x.shape[1]
    curves = [
        seed_curve(spec, params, seq.double().numpy(), np.ones(params.hidden_size), [T])
        for seq in x
    ]
    out: dict[str, Any] = {
        "log10_dhT_dh0_median": float(np.median([c.log10_norm[0] for c in curves]))
    }
    if cell == "gru":
        gamma = np.stack([c.one_minus_z for c in curves if c.one_minus_z is not None])
        out["gamma_quantiles_1_10_50_90_99"] = [
            float(v) for v in np.quantile(gamma, (0.01, 0.1, 0.5, 0.9, 0.99))
        ]
        out["slowest_unit_mean_gamma"] = float(np.median(gamma.mean(axis=1).min(axis=1)))
    return out


def train(
    cell: str, *, hidden: int, T: int, steps: int, batch: int, lr: float, clip: float,
    seed: int, eval_every: int, test: tuple[torch.Tensor, torch.Tensor],
) -> dict[str, Any]:  # fmt: skip
    torch.manual_seed(seed)
    model = Regressor(cell, hidden)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(10_000 + seed)
    curve: list[tuple[int, float]] = []
    start = time.perf_counter()

    def test_mse() -> float:
        with torch.no_grad():
            return float(((model(test[0]) - test[1]) ** 2).mean())

    curve.append((0, test_mse()))
    probe = test[0][:10]
    at_init = gradient_report(model, cell, probe)
    for step in range(1, steps + 1):
        x, y = adding_batch(batch, T, gen)
        loss = ((model(x) - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        if step % eval_every == 0 or step == steps:
            curve.append((step, test_mse()))
    return {
        "cell": cell,
        "seed": seed,
        "curve": curve,
        "final_test_mse": curve[-1][1],
        "best_test_mse": min(m for _, m in curve),
        "seconds": time.perf_counter() - start,
        "gradients_at_init": at_init,
        "gradients_trained": gradient_report(model, cell, probe),
    }


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--T", type=int, default=100)
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--steps", type=int, default=800)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--cells", nargs="+", default=["gru", "rnn"], choices=["gru", "rnn"])
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None, metavar="PATH")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    test = adding_batch(2000, args.T, torch.Generator().manual_seed(12345))
    print(
        f"adding problem T={args.T}: H={args.hidden}, {args.steps} Adam steps (lr {args.lr}, "
        f"batch {args.batch}, clip {args.clip}); baseline MSE (always 1) = {BASELINE_MSE:.4f}; "
        f"test-set MSE of answering 1: {float(((1.0 - test[1]) ** 2).mean()):.4f}"
    )
    results: list[dict[str, Any]] = []
    for cell in args.cells:
        for seed in args.seeds:
            r = train(
                cell, hidden=args.hidden, T=args.T, steps=args.steps, batch=args.batch,
                lr=args.lr, clip=args.clip, seed=seed, eval_every=args.eval_every, test=test,
            )  # fmt: skip
            results.append(r)
            pts = " ".join(f"{s}:{m:.4f}" for s, m in r["curve"])
            print(
                f"{cell.upper()} seed {seed}: final test MSE {r['final_test_mse']:.4f} "
                f"(best {r['best_test_mse']:.4f}, {r['seconds']:.0f} s)\n  {pts}\n"
                f"  exact gradients (10 test sequences): at init {r['gradients_at_init']}\n"
                f"  trained {r['gradients_trained']}",
                flush=True,
            )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(
                {"args": vars(args), "baseline_mse": BASELINE_MSE, "results": results}, fh, indent=1
            )
    for cell in args.cells:
        finals = [float(r["final_test_mse"]) for r in results if r["cell"] == cell]
        print(
            f"{cell.upper()}: final test MSE per seed {[round(f, 4) for f in finals]}, "
            f"ratio to baseline {[round(f / BASELINE_MSE, 3) for f in finals]}"
        )
    assert all(math.isfinite(float(r["final_test_mse"])) for r in results)


if __name__ == "__main__":
    main()
