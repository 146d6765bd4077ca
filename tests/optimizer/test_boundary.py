"""``cityopt run`` at its boundary: one check pass before any work or write, folders kept inside ``--out``.

Each refused case asserts exit 2, one line naming the flag, and nothing written;
the interrupt cases run the real command in a subprocess and send it a real SIGINT.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from optimizer.cli import main
from optimizer.io import UnsafePathError, check_name, confined, run_folder, slug, staged_dir

TRAFFIC = ["--problem", "traffic", "--trips", "3", "--routes", "2"]


def _refused(tmp_path: Path, capsys, argv: list[str], needle: str) -> str:
    out = tmp_path / "out"
    rc = main(["-q", "run", "--out", str(out), *argv])
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 2, err
    assert len(lines) == 1 and lines[0].startswith("cityopt: error:"), err
    assert needle in lines[0], lines[0]
    assert not out.exists(), "a refused run wrote its output folder"
    return lines[0]


@pytest.mark.parametrize("argv,needle", [
    ([*TRAFFIC, "--grid", "case30"], "--grid"),
    ([*TRAFFIC, "--grid", "case9"], "--grid"),  # the default value, given: still refused
    ([*TRAFFIC, "--levels", "2"], "--levels"),
    (["--problem", "dispatch", "--trips", "4"], "--trips"),
    (["--problem", "fleet", "--instance", "x.vrp", "--stops-csv", "s.csv"], "--stops-csv"),
    (["--problem", "fleet", "--instance", "x.vrp", "--cap", "3"], "--capacity"),
    (["--problem", "traffic", "--trips-csv", "t.csv", "--weight", "pois"], "--weight"),
    ([*TRAFFIC, "--solver", "cpsat", "--depth", "2"], "--depth"),
    ([*TRAFFIC, "--solver", "shortest", "--backend-option", "threads=2"], "--backend-option"),
    ([*TRAFFIC, "--solver", "decompose", "--cluster-size", "3"], "--cluster-size"),
])
def test_flags_that_do_not_apply_are_refused(tmp_path, capsys, argv, needle):
    _refused(tmp_path, capsys, argv, needle)


@pytest.mark.parametrize("argv,needle", [
    ([*TRAFFIC, "--solver", "shortest", "--seed", "-1"], "--seed"),
    ([*TRAFFIC, "--solver", "shortest", "--seed", str(2**70)], "--seed"),
    (["--problem", "traffic", "--routes", "100000000"], "--routes"),
    (["--problem", "dispatch", "--levels", "100000"], "--levels"),
    (["--problem", "dispatch", "--periods", "7"], "--periods"),
    (["--problem", "dispatch", "--load-scale", "inf"], "--load-scale"),
    (["--problem", "dispatch", "--load-scale", "nan"], "--load-scale"),
    (["--problem", "traffic", "--min-distance-m", "nan"], "--min-distance-m"),
    ([*TRAFFIC, "--solver", "cpsat", "--time-limit", "nan"], "--time-limit"),
    ([*TRAFFIC, "--solver", "decompose", "--sub-size", "0"], "--sub-size"),
    (["--problem", "fleet", "--solver", "decompose", "--cluster-size", "0"], "--cluster-size"),
    (["--problem", "fleet", "--solver", "decompose", "--sub-size", "-1"], "--sub-size"),
    (["--problem", "traffic", "--solver", "routing"], "--solver routing"),
    (["--problem", "traffic", "--solver", "cpsatt"], "did you mean 'cpsat'"),
    ([*TRAFFIC, "--solver", "qaoa", "--cvar-alpha", "nan"], "--cvar-alpha"),
    ([*TRAFFIC, "--solver", "qaoa", "--shots", "100000000000"], "--shots"),
    ([*TRAFFIC, "--solver", "cpsat", "--workers", "-1"], "--workers"),
])
def test_out_of_range_numbers_name_the_flag(tmp_path, capsys, argv, needle):
    _refused(tmp_path, capsys, argv, needle)


def test_quantum_that_would_never_finish_is_refused_with_the_smallest_allowed(tmp_path, capsys):
    line = _refused(tmp_path, capsys, ["--problem", "dispatch", "--units", "3", "--periods", "4",
                                       "--quantum-mw", "1e-9", "--solver", "milp"], "quantum_mw")
    assert "use quantum_mw >=" in line


def test_day_on_a_grid_without_a_year_of_profiles(tmp_path, capsys):
    _refused(tmp_path, capsys, ["--problem", "dispatch", "--day", "3", "--solver", "milp"], "day")


@pytest.mark.parametrize("make,needle", [
    (lambda root: "", "--out is empty"),
    (lambda root: (root / "file.txt").write_text("x") and str(root / "file.txt"), "is a file"),
    (lambda root: (root / "f").write_text("x") and str(root / "f" / "sub"), "not writable (not a folder)"),
    (lambda root: "/proc/cityopt-out", "not writable"),
])
def test_out_that_cannot_hold_the_outputs_is_refused_before_solving(tmp_path, capsys, make, needle):
    out = make(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    rc = main(["-q", "run", *TRAFFIC, "--solver", "shortest", "--out", out])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0 and needle in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_solver_too_small_for_the_instance_fails_before_any_folder(tmp_path, capsys):
    """exact's and qaoa's size limits come from the instance: checked before shortest writes."""
    line = _refused(tmp_path, capsys, ["--problem", "traffic", "--trips", "12", "--routes", "3",
                                       "--solver", "shortest", "qaoa"], "max_qubits")
    assert "36 variables" in line
    _refused(tmp_path, capsys, ["--problem", "traffic", "--trips", "12", "--routes", "3",
                                "--solver", "shortest", "anneal", "exact"], "max_variables")


def test_bad_backend_option_fails_before_any_folder(tmp_path, capsys):
    _refused(tmp_path, capsys, [*TRAFFIC, "--solver", "shortest", "qaoa", "--backend", "fast",
                                "--backend-option", "precision=complex32"], "precision")


def test_a_documented_flag_is_accepted_where_it_applies(tmp_path, capsys):
    rc = main(["-q", "run", "--problem", "fleet", "--stops", "4", "--solver", "decompose", "--cluster-size", "2",
               "--out", str(tmp_path / "out")])
    assert rc == 0, capsys.readouterr().err
    s = json.loads(next((tmp_path / "out").rglob("summary.json")).read_text())
    assert s["options"]["cluster_size"] == 2


# ---------------------------------------------------------------------------- paths
@pytest.mark.parametrize("name", ["../x", "/abs", ".", "..", ".hidden", "a/b", "", "x" * 101, None, "a\\b"])
def test_unsafe_names_are_refused(name):
    with pytest.raises(UnsafePathError, match="label"):
        check_name(name, field="label")


@pytest.mark.parametrize("text", ["../../x", "/etc/passwd", "..", ".", "", "a/../../b", "NAME : ../x", "\x00"])
def test_slugs_stay_one_folder_inside_the_root(tmp_path, text):
    name = slug(text)
    assert "/" not in name and name not in (".", "..") and not name.startswith(".")
    assert run_folder(tmp_path, "fleet", text, "routing").parent.parent.parent == tmp_path


def test_confined_refuses_a_symlink_out_of_the_root(tmp_path):
    (tmp_path / "root").mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "root" / "link").symlink_to(tmp_path / "outside")
    with pytest.raises(UnsafePathError, match="outside"):
        confined(tmp_path / "root", "link", "x")


def test_staged_dir_replaces_only_its_own_run_folders(tmp_path):
    users = tmp_path / "precious"
    users.mkdir()
    (users / "keep.txt").write_text("mine")
    with pytest.raises(UnsafePathError, match="not a run folder"), staged_dir(users) as d:
        (d / "summary.json").write_text("{}")
    assert (users / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["precious"], "no staged folder left"
    run = tmp_path / "run"
    for text in ("1", "2"):  # a run folder it wrote is replaced whole
        with staged_dir(run) as d:
            (d / "summary.json").write_text(text)
    assert (run / "summary.json").read_text() == "2"


# ---------------------------------------------------------------------------- interrupts
def _interrupt(argv: list[str], cwd: Path, *, after: str, timeout_s: float = 120) -> tuple[int, str, float]:
    """Run ``cityopt`` with ``argv``; send SIGINT once ``after`` exists under ``cwd``; (rc, stderr, seconds)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "optimizer.cli", *argv], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    t0 = time.monotonic()
    while not list(cwd.glob(after)) and proc.poll() is None and time.monotonic() - t0 < timeout_s:
        time.sleep(0.1)
    time.sleep(1.0)  # into the next solver
    t_sig = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err, time.monotonic() - t_sig


def test_ctrl_c_after_a_cpsat_solve_is_a_clean_interrupt(tmp_path):
    """CP-SAT used to leave its own SIGINT handler behind, which killed the process on the next Ctrl-C."""
    argv = ["-q", "run", "--problem", "traffic", "--trips", "40", "--routes", "3", "--solver", "cpsat",
            "anneal", "--reads", "4000", "--sweeps", "20000", "--out", "out"]
    rc, err, took = _interrupt(argv, tmp_path, after="out/traffic/*/cpsat/summary.json")
    assert rc == 130, err
    assert err.strip() == "cityopt: interrupted" and "Traceback" not in err
    assert took < 20
    assert (tmp_path / "out/traffic/helsinki-t40-k3-s1/cpsat/summary.json").is_file(), "a finished run is kept"
    assert not list((tmp_path / "out").rglob(".*")), "no staged folder left"


@pytest.mark.slow
def test_ctrl_c_during_a_cpsat_solve_stops_it_at_once(tmp_path):
    argv = ["-q", "run", "--problem", "traffic", "--trips", "60", "--routes", "3", "--solver", "shortest",
            "cpsat", "--on", "qubo", "--time-limit", "120", "--out", "out"]
    rc, err, took = _interrupt(argv, tmp_path, after="out/traffic/*/shortest/summary.json")
    assert rc == 130 and err.strip() == "cityopt: interrupted", err
    assert took < 10, f"the search went on {took:.1f} s after Ctrl-C"
    assert not list((tmp_path / "out").rglob(".*"))
