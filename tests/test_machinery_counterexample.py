"""Counterexample files round-trip every field (issue 14: ``load_problem`` could drop ``lengths`` or
``batch_first`` and no test failed, though one claimed "bit for bit").

The loaded ``Problem`` is compared field by field, over every field of the dataclass (a field
added later fails here until it is written and read), with the parameters, input, initial state
and cotangents bit-identical; the file's metadata comes back as written.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import numpy as np
import pytest

from gruverify.conformance.counterexample import (
    FORMAT,
    CounterexampleError,
    load_problem,
    problem_to_dict,
    read_counterexample,
    reproduction_blob,
    write_counterexample,
)
from gruverify.core.problem import Problem
from gruverify.strategies import Config, make_case

CONFIGS = [
    Config(5, 3, 2, 4, num_layers=2, bidirectional=True, batch_first=True, padded=True),
    Config(4, 2, 3, 3, padded=True),
    Config(3, None, 2, 5, bias=False, initial_state=False),
    Config(2, 2, 1, 1, num_layers=3, batch_first=True),
]


def _problem(cfg: Config, seed: int) -> Problem:
    p = make_case(cfg, "ordinary", "ordinary", seed).problem
    # values no short decimal writes exactly: every bit must survive the round trip
    return dataclasses.replace(p, x=np.asarray(p.x) * (1.0 + 2.0**-52) + 1e-17)


def assert_same_problem(got: Problem, want: Problem) -> None:
    """Every field of ``Problem`` equal, arrays bit for bit (dtype, shape and bytes)."""
    for f in dataclasses.fields(Problem):
        a, b = getattr(got, f.name), getattr(want, f.name)
        if f.name == "params":
            assert (a.input_size, a.hidden_size, a.num_layers, a.bidirectional, a.bias) == (
                b.input_size, b.hidden_size, b.num_layers, b.bidirectional, b.bias
            )  # fmt: skip
            got_named, want_named = dict(a.named()), dict(b.named())
            assert list(got_named) == list(want_named)
            for k, v in want_named.items():
                _same_array(got_named[k], v, k)
        elif b is None or a is None:
            assert a is None and b is None, (f.name, a, b)
        elif isinstance(b, np.ndarray):
            _same_array(a, np.asarray(b, dtype=a.dtype if f.name == "lengths" else np.float64),
                        f.name)  # fmt: skip
            if f.name == "lengths":
                assert a.dtype == np.int64
        else:
            assert type(a) is type(b) and a == b, (f.name, a, b)


def _same_array(a: np.ndarray, b: np.ndarray, name: str) -> None:
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype, (name, a.shape, b.shape, a.dtype, b.dtype)
    assert a.tobytes() == b.tobytes(), f"{name} differs after the round trip"


@pytest.mark.parametrize("cfg", CONFIGS, ids=range(len(CONFIGS)))
def test_problem_round_trips_every_field(cfg: Config) -> None:
    want = _problem(cfg, 3)
    assert want.batch_first == cfg.batch_first and (want.lengths is not None) == cfg.padded
    got = load_problem(json.loads(json.dumps(problem_to_dict(want))))
    assert_same_problem(got, want)


METADATA = {
    "target": "pkg.mod:My GRU", "cell": True, "device": "cpu", "dtype": "float32",
    "check": "gradient[output+h_n]", "profile": "thorough", "seed": 1234,
    "hypothesis_blob": "@reproduce_failure('6.1', b'AXic')", "law": "gradient equivalence",
    "numbers": {"error": 0.5, "tolerance": 0.25, "index": [0, 1]},
    "case": {"steps": 5, "seed": 99}, "rerun_check": "gruverify check x --seed 1234",
}  # fmt: skip


def test_file_round_trips_metadata_problem_and_cotangents(tmp_path: pathlib.Path) -> None:
    want = _problem(CONFIGS[0], 4)
    rng = np.random.default_rng(0)
    d_out = rng.standard_normal((3, 5, 8)) * (1 + 2.0**-52)
    d_hn = rng.standard_normal((4, 3, 4))
    path = write_counterexample(str(tmp_path / "sub"), METADATA, want, (d_out, d_hn))
    assert pathlib.Path(path).name == (
        "pkg.mod_My_GRU-cpu-float32-gradient_output_h_n-seed1234.json"
    )
    data = read_counterexample(path)
    assert data["gruverify_counterexample"] == FORMAT == 1
    assert isinstance(data["gruverify_version"], str) and data["gruverify_version"]
    for k, v in METADATA.items():
        assert data[k] == v, k
    assert data["reproduce"] == f"gruverify reproduce {path}"
    assert_same_problem(load_problem(data["problem"]), want)
    _same_array(np.asarray(data["cotangents"]["d_output"]), d_out, "d_output")
    _same_array(np.asarray(data["cotangents"]["d_h_n"]), d_hn, "d_h_n")


def test_file_without_cotangents_or_rerun(tmp_path: pathlib.Path) -> None:
    meta = {k: v for k, v in METADATA.items() if k != "rerun_check"}
    path = write_counterexample(str(tmp_path), meta, _problem(CONFIGS[2], 1), None)
    data = read_counterexample(path)
    assert "cotangents" not in data and data["rerun_check"] == ""
    one = write_counterexample(str(tmp_path), meta, _problem(CONFIGS[2], 1), (None, np.ones(2)))
    assert read_counterexample(one)["cotangents"] == {"d_output": None, "d_h_n": [1.0, 1.0]}
    odd = write_counterexample(
        str(tmp_path / "a b"), {**meta, "target": "!!"}, _problem(CONFIGS[2], 1)
    )
    assert (
        pathlib.Path(odd).name.startswith("x-cpu-") and "'" in read_counterexample(odd)["reproduce"]
    )


def test_reading_rejects_what_is_not_a_counterexample(tmp_path: pathlib.Path) -> None:
    with pytest.raises(CounterexampleError, match="cannot read"):
        read_counterexample(str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(CounterexampleError, match="is not JSON"):
        read_counterexample(str(bad))
    for data in ([1, 2], {"gruverify_counterexample": 2}, {"target": "x"}):
        bad.write_text(json.dumps(data))
        with pytest.raises(CounterexampleError, match="is not a gruverify counterexample file"):
            read_counterexample(str(bad))
    full = {"gruverify_counterexample": 1, "target": "t", "device": "cpu", "dtype": "float32",
            "check": "c", "problem": {}}  # fmt: skip
    for key in ("target", "device", "dtype", "check", "problem"):
        bad.write_text(json.dumps({k: v for k, v in full.items() if k != key}))
        with pytest.raises(CounterexampleError, match=f"lacks {key}$"):
            read_counterexample(str(bad))
    bad.write_text(json.dumps(full))
    assert read_counterexample(str(bad)) == full


def test_loading_rejects_a_malformed_problem() -> None:
    good = problem_to_dict(_problem(CONFIGS[1], 0))
    extra = json.loads(json.dumps(good))
    extra["params"]["named"]["l1.W_ir"] = [[0.0]]
    with pytest.raises(CounterexampleError, match=r"parameters .* expected"):
        load_problem(extra)
    for key in ("x", "h0", "lengths", "batch_first", "params"):
        broken = {k: v for k, v in good.items() if k != key}
        with pytest.raises(CounterexampleError, match="malformed problem: KeyError"):
            load_problem(broken)
    short = json.loads(json.dumps(good))
    short["params"]["named"]["l0.W_ir"] = [[1.0]]
    with pytest.raises(CounterexampleError, match="malformed problem: ValueError"):
        load_problem(short)


def test_reproduction_blob_from_the_notes() -> None:
    e = ValueError("x")
    assert reproduction_blob(e) is None
    e.add_note("Falsifying example: ...")
    e.add_note(
        "You can reproduce this example by ... @reproduce_failure('6.1', b'AXic') as a decorator"
    )
    assert reproduction_blob(e) == "@reproduce_failure('6.1', b'AXic')"
