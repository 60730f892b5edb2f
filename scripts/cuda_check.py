"""The whole CUDA part of the suite in one call, plus a figures printout.

Usage (from the repository root, nothing installed):  PYTHONPATH=. python scripts/cuda_check.py

1. Figures: the card, torch / CUDA / cuDNN versions; for torch.nn.GRU (cuDNN) and the torch
   reference on CUDA, per dtype (float64, float32 with TF32 off and on, float16, bfloat16): the max
   abs output error against the float64 reference on the rounded problem, the error model's
   tolerance for that arithmetic and their ratio (above 1 would be a false alarm), and the relative
   error of the input gradient.
2. ``pytest properties/ tests/ -m cuda`` (the ci hypothesis profile unless GRUVERIFY_PROFILE is set):
   every law on CUDA and the CPU vs CUDA agreement.

The printout goes to stdout and, when $OUT is set, to $OUT/cuda-report.txt. The exit status is
pytest's (5, no tests collected, when there is no CUDA device).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gruverify.core.problem import rounded  # noqa: E402
from gruverify.error_model import ARITHMETICS, ErrorModel  # noqa: E402
from gruverify.layouts.torch_layout import gru_to_torch  # noqa: E402
from gruverify.reference.implementations import TorchReference  # noqa: E402
from gruverify.reference.numpy_reference import gru_backward  # noqa: E402
from gruverify.strategies import Config, make_case  # noqa: E402

SHAPES = [(50, 4, 8, 16), (100, 32, 128, 256), (200, 8, 64, 256)]  # (T, B, I, H)
MODES = [
    ("float64", "float64", False),
    ("float32, TF32 off", "float32", False),
    ("float32, TF32 on (default)", "float32", True),
    ("float16", "float16", False),
    ("bfloat16", "bfloat16", False),
]


def _nn_gru(problem, dtype: str, d_out: np.ndarray):
    p = problem.params
    m = torch.nn.GRU(
        p.input_size, p.hidden_size, p.num_layers, bias=p.bias, bidirectional=p.bidirectional
    ).to("cuda", getattr(torch, dtype))
    m.load_state_dict(gru_to_torch(p, as_torch=True, dtype=getattr(torch, dtype)))
    x = torch.tensor(problem.x, dtype=getattr(torch, dtype), device="cuda", requires_grad=True)
    h0 = torch.tensor(problem.h0, dtype=getattr(torch, dtype), device="cuda")
    out, _ = m(x, h0)
    (out * torch.as_tensor(d_out, dtype=out.dtype, device="cuda")).sum().backward()
    return out.detach().double().cpu().numpy(), x.grad.double().cpu().numpy()


def _torch_ref(problem, dtype: str, d_out: np.ndarray):
    impl = TorchReference("reset_after", dtype, "cuda")
    out = impl.forward(problem).output
    g = impl.gradients(problem, d_out, None)
    return out, g.dx


def figures(lines: list[str]) -> None:
    lines.append(f"card: {torch.cuda.get_device_name(0)}")
    lines.append(
        f"torch {torch.__version__}, CUDA {torch.version.cuda}, "
        f"cuDNN {torch.backends.cudnn.version()}"
    )
    lines.append("max abs output error vs float64 reference | tolerance | ratio | rel dx error")
    saved = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    for T, B, I, H in SHAPES:
        case = make_case(Config(T, B, I, H), "ordinary", "ordinary", 0)
        problem = case.problem
        d_out = np.random.default_rng(1).standard_normal((T, B, H))
        for label, dtype, tf32 in MODES:
            torch.backends.cudnn.allow_tf32 = tf32
            torch.backends.cuda.matmul.allow_tf32 = tf32
            arith = ARITHMETICS["tf32" if tf32 else dtype]
            model = ErrorModel(arith, draws=2)
            ref, tol = model.forward(problem, "reset_after")
            rp = rounded(problem, arith.storage)
            g = gru_backward(rp.params, rp.x, rp.h0, rounded_d(d_out, arith.storage), None)
            for name, run in (("nn.GRU", _nn_gru), ("torch reference", _torch_ref)):
                if name == "torch reference" and T * H > 100 * 256:
                    continue
                t0 = time.time()
                out, dx = run(problem, dtype, d_out)
                err = float(np.max(np.abs(out - ref.output)))
                rel = float(np.linalg.norm(dx - g.dx) / np.linalg.norm(g.dx))
                lines.append(
                    f"  T={T} B={B} I={I} H={H} {name:15} {label:27} {err:9.3g} | "
                    f"{tol.output:9.3g} | {err / tol.output:6.3f} | {rel:9.3g}  ({time.time() - t0:.1f} s)"
                )
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def rounded_d(a: np.ndarray, dtype: str) -> np.ndarray:
    from gruverify.core.arithmetic import round_to_dtype

    return round_to_dtype(a, dtype)


def main() -> int:
    lines: list[str] = []
    if torch.cuda.is_available():
        try:
            figures(lines)
        except Exception as e:  # the figures must not hide the test run
            lines.append(f"figures failed: {type(e).__name__}: {e}")
    else:
        lines.append("no CUDA device: torch.cuda.is_available() is False")
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "properties/",
        "tests/",
        "-m",
        "cuda",
        "-q",
        "-p",
        "no:cacheprovider",
        "-rs",
    ]
    t0 = time.time()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    lines.append(f"$ {' '.join(cmd[2:])}  ({time.time() - t0:.0f} s, exit {proc.returncode})")
    lines.extend(proc.stdout.splitlines()[-60:])
    if proc.returncode not in (0, 5):
        lines.extend(proc.stderr.splitlines()[-20:])
    text = "\n".join(lines) + "\n"
    print(text, end="")
    out = os.environ.get("OUT")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "cuda-report.txt").write_text(text)
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
