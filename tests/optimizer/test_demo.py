"""``cityopt demo``'s harness: every stage timed (``demo_timing.json``), a progress bar over the stages, the
tables in the demo's order whichever worker finished first.  The whole demo is too long for a test; these run
small instances through the same code."""

from __future__ import annotations

import io
import json

import pytest

from optimizer.demo import DEMO_INSTANCES, _stage_names, run_demo

TINY = [
    {"label": "tiny traffic", "trips": 3, "routes": 2, "cost_s": 1,
     "solvers": [("shortest", {}), ("exact", {}), ("anneal", {}, "anneal-b")], "time_limit_s": 5.0},
    {"label": "tiny dispatch", "problem": "dispatch", "cost_s": 2,
     "params": {"grid": "case9", "periods": 2, "seed": 1}, "solvers": [("milp", {})], "time_limit_s": 5.0},
]


def _check_timing(out, workers):
    t = json.loads((out / "demo_timing.json").read_text())
    names = [(r["group"], r["stage"]) for r in t["stages"]]
    assert names == [("tiny traffic", "build problem"), ("tiny traffic", "shortest"), ("tiny traffic", "exact"),
                     ("tiny traffic", "anneal-b"), ("tiny dispatch", "build problem"), ("tiny dispatch", "milp")]
    assert all(r["wall_s"] >= 0 and r["cpu_s"] >= 0 for r in t["stages"])
    assert t["workers"] == workers and t["total_wall_s"] >= max(r["wall_s"] for r in t["stages"])
    demo = json.loads((out / "demo.json").read_text())
    assert [i["label"] for i in demo["instances"]] == ["tiny traffic", "tiny dispatch"]
    assert demo["stages_s"]["tiny dispatch: milp"] == t["stages"][-1]["wall_s"]
    return t


def test_stages_timed_and_shown_in_one_process(tmp_path, capsys, monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    run_demo(tmp_path, workers=1, progress=True, instances=TINY, live=False, report=False)
    _check_timing(tmp_path, 1)
    bar = err.getvalue()
    assert "cityopt demo" in bar and "6/6 stages" in bar  # the bar counted every stage
    printed = capsys.readouterr().out
    assert printed.index("== tiny traffic") < printed.index("== tiny dispatch")
    assert "wall_s" in printed and "cpu_s" in printed  # the stage table
    assert (tmp_path / "traffic").is_dir() and (tmp_path / "dispatch").is_dir()


@pytest.mark.slow
def test_two_workers_keep_the_order(tmp_path, capsys):
    # the dispatch task is submitted first (longest first) and may finish first: the tables still print in order
    run_demo(tmp_path, workers=2, progress=False, instances=TINY, live=False, report=False)
    t = _check_timing(tmp_path, 2)
    assert len({r["pid"] for r in t["stages"]}) == 2  # the two instances ran in two worker processes
    printed = capsys.readouterr().out
    assert printed.index("== tiny traffic") < printed.index("== tiny dispatch")


def test_every_demo_stage_is_counted():
    # the bar's total: one stage per build, reference, solver and continuous plan
    names = {spec["label"]: _stage_names(spec) for spec in DEMO_INSTANCES}
    assert names["city-sized"][:2] == ["build problem", "AequilibraE references"]
    assert names["qaoa-sized"][-4:] == ["qaoa-fast", "cpsat", "exact", "anneal"]
    assert names["dispatch full day"][-1] == "continuous plan"
    assert all(spec["cost_s"] > 0 for spec in DEMO_INSTANCES)


def test_every_demo_request_and_the_live_loop_are_valid():
    # what the workers would refuse only minutes in is checked here, without solving anything
    from optimizer.demo import LIVE_DEMO
    from optimizer.runs.live import check_live_args
    from optimizer.solve import check_request

    for spec in DEMO_INSTANCES:
        for name, opts, *_label in spec["solvers"]:
            opts = dict(opts)
            limit = opts.pop("_time_limit_s", spec["time_limit_s"])
            check_request(name, opts, spec.get("problem", "traffic"), seed=1, time_limit_s=limit)
    check_live_args(**LIVE_DEMO)
    city = next(s for s in DEMO_INSTANCES if s["label"] == "city-sized")
    assert city["trips"] >= 1000 and city["simulate"] and city["references"]  # issue 12: a city-sized peak in SUMO
