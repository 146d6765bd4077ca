"""``cityopt run`` with warm-start and recursive QAOA: the flags reach the solver, bad uses are refused
before anything is written."""

from __future__ import annotations

import json

import pytest

from optimizer.cli import main
from tests.optimizer.test_boundary import TRAFFIC, _refused


@pytest.mark.parametrize("argv,needle", [
    ([*TRAFFIC, "--solver", "qaoa", "--warm-start", "--backend", "qvm:rainbow"], "--warm-start"),
    ([*TRAFFIC, "--solver", "qaoa", "--warm-start", "--backend", "fast", "--mixer", "xy-ring"], "'auto' or 'x'"),
    ([*TRAFFIC, "--solver", "qaoa", "--backend", "fast", "--warm-epsilon", "0.9"], "--warm-epsilon"),
    ([*TRAFFIC, "--solver", "qaoa", "--backend", "fast", "--recursive", "6"], "not below the QUBO's 6 variables"),
    ([*TRAFFIC, "--solver", "cpsat", "--recursive", "2"], "--recursive"),
])
def test_bad_variant_flags_are_refused(tmp_path, capsys, argv, needle):
    _refused(tmp_path, capsys, argv, needle)


def test_variant_flags_reach_the_solver(tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["-q", "run", *TRAFFIC, "--solver", "qaoa", "--backend", "fast", "--warm-start",
               "--warm-relaxation", "convex", "--recursive", "3", "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    s = json.loads(next(out.rglob("qaoa/summary.json")).read_text())
    opts = s["options"]
    assert (opts["warm_start"], opts["warm_relaxation"], opts["recursive"]) == (True, "convex", 3)
