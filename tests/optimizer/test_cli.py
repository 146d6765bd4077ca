"""The cityopt command: outputs as DESIGN.md says, bad input -> exit 2 and nothing written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from optimizer.cli import main

SUMMARY_KEYS = {"problem", "instance", "solver", "options", "objective", "objective_units", "qubo_energy",
                "feasible", "best_bound", "gap", "wall_time_s"}


def test_run_writes_the_contract(tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["-q", "run", "--problem", "traffic", "--trips", "4", "--routes", "2", "--seed", "3",
               "--solver", "shortest", "cpsat", "exact", "anneal", "--out", str(out)])
    assert rc == 0
    inst = out / "traffic" / "helsinki-t4-k2-s3"
    for solver in ("shortest", "cpsat", "exact", "anneal"):
        d = inst / solver
        s = json.loads((d / "summary.json").read_text())
        assert SUMMARY_KEYS <= set(s)
        assert s["problem"] == "traffic" and s["solver"] == solver and s["feasible"] is True
        assert s["objective_units"] == "vehicle-hours"
        assert s["instance"]["trips"] == 4 and s["instance"]["seed"] == 3
        for f in ("plan.geojson", "itinerary.csv", "segment_loads.geojson"):
            assert (d / f).stat().st_size > 0
    assert (inst / "comparison.csv").exists()
    cp = json.loads((inst / "cpsat" / "summary.json").read_text())
    ex = json.loads((inst / "exact" / "summary.json").read_text())
    assert cp["objective"] == pytest.approx(ex["objective"]) and cp["gap"] == pytest.approx(0.0, abs=1e-9)
    text = capsys.readouterr().out
    assert "verdict:" in text and "cpsat" in text
    assert not list(out.rglob("*.tmp")), "no temp files left behind"


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--solver", "magic"], "magic"),
        (["--solver", "qaoa", "--depth", "0"], "depth"),
        (["--solver", "qaoa", "--shots", "-5"], "shots"),
        (["--routes", "0"], "routes"),
        (["--trips", "0"], "trips"),
        (["--trips", "100000000"], "trips"),
        (["--city", "atlantis"], "atlantis"),
        (["--city", "/nonexistent/city.osm.pbf"], "city.osm.pbf"),
        (["--solver", "anneal", "--sweeps", "0"], "sweeps"),
        (["--time-limit", "-1"], "time"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(tmp_path, capsys, args, needle):
    out = tmp_path / "out"
    rc = main(["-q", "run", "--problem", "traffic", "--trips", "3", "--out", str(out), *args])
    err = capsys.readouterr().err
    assert rc == 2
    assert needle in err and err.startswith("cityopt: error:")
    assert "Traceback" not in err
    assert not out.exists() or not any(out.rglob("summary.json"))


def test_empty_city_file(tmp_path, capsys):
    f = tmp_path / "empty.osm"
    f.write_text("")
    rc = main(["-q", "run", "--problem", "traffic", "--city", str(f), "--out", str(tmp_path / "o")])
    assert rc == 2 and "empty.osm" in capsys.readouterr().err


def test_argparse_errors_exit_2():
    with pytest.raises(SystemExit) as e:
        main(["run", "--problem", "teleport"])
    assert e.value.code == 2


def test_console_script_help():
    exe = Path(sys.executable).with_name("cityopt")
    r = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "run" in r.stdout and "demo" in r.stdout
    for cmd in ("run", "demo"):
        r = subprocess.run([str(exe), cmd, "--help"], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and "example" in r.stdout


def test_import_is_light():
    code = ("import sys, optimizer, solvers; heavy = [m for m in ('cirq', 'qsimcirq', 'ortools', "
            "'pandapower', 'osmnx', 'geopandas') if m in sys.modules]; print(heavy)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == "[]", r.stdout + r.stderr


def test_run_dispatch_writes_the_contract(tmp_path):
    out = tmp_path / "out"
    rc = main(["-q", "run", "--problem", "dispatch", "--grid", "case9", "--units", "3", "--periods", "4",
               "--levels", "1", "--solver", "cpsat", "milp", "exact", "--out", str(out)])
    assert rc == 0
    inst = out / "dispatch" / "case9-u3-p4-l1-s1"
    objs = {}
    for solver in ("cpsat", "milp", "exact"):
        d = inst / solver
        s = json.loads((d / "summary.json").read_text())
        assert SUMMARY_KEYS <= set(s) and s["objective_units"] == "EUR" and s["feasible"]
        assert s["continuous_bound_eur"] <= s["objective"]
        objs[solver] = s["objective"]
        pf = json.loads((d / "powerflow.json").read_text())
        assert pf and all("converged" in p for p in (pf["periods"] if isinstance(pf, dict) else pf))
        for f in ("dispatch.csv", "demand.csv"):
            assert (d / f).stat().st_size > 0
    assert objs["cpsat"] == pytest.approx(objs["exact"]) == pytest.approx(objs["milp"])


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--grid", "atlantis"], "atlantis"),
        (["--periods", "0"], "periods"),
        (["--levels", "0"], "levels"),
        (["--units", "0"], "units"),
        (["--solver", "shortest"], "shortest"),
    ],
)
def test_dispatch_bad_input_exits_2(tmp_path, capsys, args, needle):
    out = tmp_path / "out"
    rc = main(["-q", "run", "--problem", "dispatch", "--grid", "case9", "--periods", "4", "--out", str(out), *args])
    err = capsys.readouterr().err
    assert rc == 2 and needle in err and "Traceback" not in err
    assert not out.exists() or not any(out.rglob("summary.json"))


def test_engine_without_credentials_is_a_clear_exit_2(tmp_path, capsys, monkeypatch):
    for var in ("GOOGLE_CLOUD_PROJECT", "GOOGLE_APPLICATION_CREDENTIALS", "CLOUDSDK_CORE_PROJECT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no gcloud application-default credentials either
    rc = main(["-q", "run", "--problem", "traffic", "--trips", "3", "--routes", "2", "--solver", "qaoa",
               "--backend", "engine:rainbow", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and "GOOGLE_CLOUD_PROJECT" in err and "Traceback" not in err


def test_record_benchmarks_appends_rows(tmp_path):
    import duckdb

    from optimizer.runs.results import record_benchmarks

    db = tmp_path / "r.duckdb"
    n = record_benchmarks(db, {"exact": {"speedup": 12.5, "n": 20, "note": "x"}, "bad": float("nan")})
    assert n == 2
    record_benchmarks(db, {"exact": {"speedup": 13.0}})
    rows = duckdb.connect(str(db), read_only=True).execute(
        "select metric, value from benchmarks order by recorded_utc, metric").fetchall()
    assert rows == [("exact.n", 20.0), ("exact.speedup", 12.5), ("exact.speedup", 13.0)]


def test_bench_refuses_an_unwritable_db_before_running(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    rc = main(["bench", "--only", "core", "--db", str(blocker / "r.duckdb"), "--out", str(tmp_path / "b.json")])
    assert rc == 2 and "cityopt: error:" in capsys.readouterr().err
    assert not (tmp_path / "b.json").exists()


def test_backend_options_reach_the_backend(tmp_path, capsys):
    """--backend-option KEY=VALUE goes to the QAOA backend (JSON values parsed); a malformed pair or a
    value the backend refuses is one clear error, exit 2, nothing written."""
    out = tmp_path / "out"
    args = ["-q", "run", "--problem", "traffic", "--trips", "3", "--routes", "2", "--solver", "qaoa",
            "--backend", "fast", "--maxiter", "5"]
    rc = main([*args, "--backend-option", "precision=complex128", "--backend-option", 'kernels="blas"',
               "--out", str(out)])
    assert rc == 0
    s = json.loads(next(out.rglob("qaoa/summary.json")).read_text())
    assert s["options"]["backend_options"] == {"precision": "complex128", "kernels": "blas"}
    bad = tmp_path / "bad"
    for pair, match in (("precision", "KEY=VALUE"), ("kernels=avx", "option 'kernels' of backend 'fast'"),
                        ("threads=2", "the solver's own option")):
        capsys.readouterr()
        assert main([*args, "--backend-option", pair, "--out", str(bad)]) == 2
        err = capsys.readouterr().err
        assert match in err and "Traceback" not in err
        assert not bad.exists()
