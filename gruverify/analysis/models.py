"""The models of the vanishing-gradient study: which network, which initialisation.

``ModelSpec`` is one network and initialisation (written ``KIND[:key=value,...]`` on the command
line, read by ``parse_model``); ``make_params`` draws its float64 parameters; ``DEFAULT_MODELS`` are
the five rows of the table in docs/gru-math.md section 4.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Literal

import numpy as np

from gruverify.core.params import (
    VARIANTS,
    GRUParams,
    RNNParams,
    Variant,
    random_gru_params,
    random_rnn_params,
)

__all__ = ["DEFAULT_MODELS", "Kind", "ModelSpec", "make_params", "parse_model"]

Kind = Literal["gru", "rnn"]


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


#: The five rows of the table in docs/gru-math.md section 4.
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
