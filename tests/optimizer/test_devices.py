"""Flexible devices: the device CSV, the generator, devices scheduled in the MILPs, the plan's checks, the CLI."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from optimizer.cli import main
from optimizer.errors import DeviceError, PlanValidationError
from optimizer.inputs.devices import (
    SCHEDULE_COLUMNS,
    Battery,
    DemandResponse,
    Devices,
    EVSession,
    generate_devices,
    read_devices,
)
from optimizer.inputs.grid import Grid
from optimizer.problems.dispatch.problem import Dispatch
from optimizer.solve import solve

HEADER = ("device,kind,bus,arrival,departure,energy_mwh,max_rate_mw,capacity_mwh,soc_init_mwh,soc_min_mwh,"
          "soc_max_mwh,efficiency,window_start,window_end,baseline_start,discomfort_eur_per_mwh")
GOOD = {
    "ev": "car,ev,4,18:00,07:30+1,20,5,,,,,,,,,",
    "battery": "bat,battery,6,,,,10,40,20,4,40,0.9,,,,",
    "dr": "heater,dr,8,,,6,3,,,,,,22:00,07:00+1,22:00,5",
}


@pytest.fixture(scope="module")
def case9():
    return Grid.load("case9")


def _write(tmp_path, *rows, header=HEADER):
    p = tmp_path / "devices.csv"
    p.write_text("\n".join([header, *rows]) + "\n")
    return p


# ------------------------------------------------------------------------------ the CSV
def test_a_hand_written_file_reads_as_written(tmp_path, case9):
    devs = read_devices(_write(tmp_path, *GOOD.values()), case9)
    ev, bat, dr = devs.items
    assert isinstance(ev, EVSession) and (ev.arrival_h, ev.departure_h, ev.energy_mwh) == (18.0, 31.5, 20.0)
    assert isinstance(bat, Battery) and bat.eta == pytest.approx(0.9 ** 0.5)
    assert isinstance(dr, DemandResponse) and (dr.window_start_h, dr.window_end_h, dr.baseline_start_h) == (22, 31, 22)
    # the session wraps round the periodic day: plugged in 18:00-24:00 and 00:00-07:30
    a = ev.availability(24)
    assert a[18:].tolist() == [1.0] * 6 and a[:7].tolist() == [1.0] * 7 and a[7] == 0.5 and a[8:18].sum() == 0


def test_the_example_file_reads_on_case9(case9):
    from pathlib import Path

    devs = read_devices(Path(__file__).parents[2] / "examples" / "devices_case9.csv", case9)
    assert {"ev", "battery", "dr"} == set(devs.kinds)


def test_generated_devices_round_trip_through_the_csv(tmp_path, case9):
    devs = generate_devices(case9, evs=30, batteries=5, dr=5, seed=4)
    back = read_devices(devs.write_csv(tmp_path / "d.csv"), case9)
    assert back == devs and back.kinds == devs.kinds and back.buses == devs.buses


@pytest.mark.parametrize("row, field, fix", [
    ("car,ev,99,18:00,07:30+1,20,5,,,,,,,,,", "bus", "does not exist"),
    ("car,ev,4,18:00,07:30,20,5,,,,,,,,,", "departure", "departs before it arrives"),
    ("car,ev,4,18:00,19:00,20,5,,,,,,,,,", "energy_mwh", "more than max_rate_mw"),
    ("car,ev,4,18:00,19:00,-1,5,,,,,,,,,", "energy_mwh", "negative"),
    ("car,ev,4,25:00,07:30+1,2,5,,,,,,,,,", "arrival", "HH:MM"),
    ("car,ev,4,18:00,,2,5,,,,,,,,,", "departure", "is empty"),
    ("bat,battery,6,,,,10,40,20,30,25,0.9,,,,", "soc_min_mwh", "above soc_max_mwh"),
    ("bat,battery,6,,,,10,40,2,4,40,0.9,,,,", "soc_init_mwh", "outside"),
    ("bat,battery,6,,,,10,40,20,4,50,0.9,,,,", "soc_max_mwh", "above capacity_mwh"),
    ("bat,battery,6,,,,10,40,20,4,40,1.5,,,,", "efficiency", "round-trip"),
    ("heater,dr,8,,,6,3,,,,,,22:00,07:00+1,06:00,5", "baseline_start", "does not fit"),
    ("x,heatpump,8,,,,,,,,,,,,,", "kind", "unknown kind"),
])
def test_each_bad_row_is_one_error_naming_line_field_and_fix(tmp_path, case9, row, field, fix):
    with pytest.raises(DeviceError) as err:
        read_devices(_write(tmp_path, GOOD["battery"], row), case9)
    text = str(err.value)
    assert "line 3" in text and field in text and fix in text and "\n" not in text


def test_a_file_without_a_kinds_column_or_a_repeated_name_is_refused(tmp_path, case9):
    with pytest.raises(DeviceError, match="no column 'efficiency'"):
        read_devices(_write(tmp_path, "bat,battery,6,10,40,20,4,40",
                            header="device,kind,bus,max_rate_mw,capacity_mwh,soc_init_mwh,soc_min_mwh,soc_max_mwh"),
                     case9)
    with pytest.raises(DeviceError, match="line 3.*'car' is also the name on line 2"):
        read_devices(_write(tmp_path, GOOD["ev"], GOOD["ev"]), case9)


# ------------------------------------------------------------------------------ the generator
def test_the_generator_is_seeded_and_plausible():
    grid = Grid.load("case30")
    a = generate_devices(grid, evs=400, batteries=20, dr=20, seed=7)
    assert a == generate_devices(grid, evs=400, batteries=20, dr=20, seed=7)
    assert a != generate_devices(grid, evs=400, batteries=20, dr=20, seed=8)
    load_buses = set(grid.net.load.bus[grid.net.load.p_mw > 0].astype(int))
    assert set(a.buses) <= load_buses
    agg = a.aggregation
    evs = [d for d in a.items if d.kind == "ev"]
    home = [d for d in evs if d.departure_h > 24]
    assert 0.55 < len(home) / len(evs) < 0.85
    assert 17.0 < np.mean([d.arrival_h for d in home]) < 19.0  # ~ N(18:00, 1.5 h)
    assert 30.5 < np.mean([d.departure_h for d in home]) < 32.5  # ~ N(07:30, 1 h) next morning
    kwh = np.array([d.energy_mwh for d in evs]) * 1000 / agg
    assert 3.0 < np.median(kwh) < 9.0 and kwh.min() >= 1.0 - 1e-9  # ~30 km x 0.18 kWh/km
    rates = {round(d.max_rate_mw * 1000 / agg, 3) for d in evs}
    assert rates <= {3.7, 7.4, 11.0}
    assert all(d.energy_mwh <= d.max_rate_mw * (d.departure_h - d.arrival_h) + 1e-9 for d in evs)
    # the EV fleet's rating is about a fifth of the grid's load (the aggregation rule)
    assert 0.15 < sum(d.max_rate_mw for d in evs) / grid.nominal_load_mw() < 0.25
    home_bat = [d for d in a.items if d.kind == "battery" and d.capacity_mwh == pytest.approx(13.5e-3 * agg)]
    assert home_bat and all(d.max_rate_mw == pytest.approx(5e-3 * agg) for d in home_bat)
    # uncontrolled: every session charges at full rate from arrival and gets its energy; batteries idle
    u = a.uncontrolled_mw(24)
    assert a.check_schedule(u, 24) == []
    assert np.all(u[:, [j for j, k in enumerate(a.kinds) if k == "battery"]] == 0)


def test_bad_generator_counts_are_refused(case9):
    with pytest.raises(DeviceError, match="evs must be"):
        generate_devices(case9, evs=-1)


# ------------------------------------------------------------------------------ scheduling
@pytest.fixture(scope="module")
def case9_runs(case9):
    devs = generate_devices(case9, evs=30, batteries=3, dr=4, seed=2, aggregation=150)
    out = {}
    for opt in (True, False):
        prob = Dispatch.from_grid(case9, periods=12, levels=2, seed=1, devices=devs, optimise_devices=opt)
        sol = solve(prob, "milp", seed=1, time_limit_s=60)
        out[opt] = (prob, sol, prob.decode(sol).validate())
    return out


def test_the_optimised_plan_keeps_every_device_rule_and_beats_uncontrolled_charging(case9_runs):
    prob, sol, plan = case9_runs[True]
    _, usol, uplan = case9_runs[False]
    assert sol.info["device_policy"] == "optimised" and usol.info["device_policy"] == "uncontrolled"
    dev = plan.device_mw()
    assert prob.devices.check_schedule(dev, 12) == []
    evs = [j for j, k in enumerate(prob.devices.kinds) if k == "ev"]
    dt = 2.0
    avail = prob.devices.availability(12)
    for j in evs:  # every session's energy by departure, nothing while away
        d = prob.devices.items[j]
        assert dev[:, j].sum() * dt == pytest.approx(d.energy_mwh, abs=1e-6)
        assert np.all(dev[avail[:, j] == 0, j] == 0)
    for j, d in enumerate(prob.devices.items):
        if d.kind == "battery":
            soc = d.soc(dev[:, j], dt)
            assert soc.min() >= d.soc_min_mwh - 1e-6 and soc.max() <= d.soc_max_mwh + 1e-6
            assert soc[-1] >= d.soc_init_mwh - 1e-6
    assert not np.allclose(dev, prob.device_base_mw)  # it did move something
    assert plan.objective <= uplan.objective + 1e-6
    peak = (plan.demand.load_mw + plan.demand.devices_mw).max()
    upeak = (uplan.demand.load_mw + uplan.demand.devices_mw).max()
    assert peak < upeak - 1.0
    assert prob.objective(sol) == pytest.approx(plan.objective)


def test_the_continuous_model_schedules_the_devices_too(case9_runs):
    prob, _, plan = case9_runs[True]
    r = prob.solve_continuous()
    assert r.device_mw is not None and r.info["device_policy"] == "optimised"
    cplan = prob.plan_from_continuous(r).validate()
    assert prob.devices.check_schedule(cplan.device_mw(), 12) == []
    assert r.bound_eur <= plan.objective + 1e-6
    ur = prob.uncontrolled().solve_continuous()
    assert r.objective_eur <= ur.objective_eur + 1e-3


def test_qubo_solvers_run_the_devices_uncontrolled(case9_runs):
    prob = case9_runs[False][0].uncontrolled()
    sol = solve(prob, "cpsat", seed=1, time_limit_s=30)
    plan = prob.decode(sol).validate()
    np.testing.assert_allclose(plan.device_mw(), prob.device_base_mw)


def test_the_power_flow_sees_the_devices_at_their_buses(case9_runs):
    _, _, plan = case9_runs[False]
    pf = plan.power_flow()
    dev = plan.demand.devices_mw.to_numpy()
    t = int(np.argmax(dev))
    assert dev[t] > 5.0
    rec = pf["periods"][t]
    # the slack supplies the plan's import plus the losses, and only with the devices' load in the net
    assert rec["slack_p_mw"] == pytest.approx(rec["planned_import_mw"] + rec["losses_mw"], abs=0.5)


@pytest.mark.slow
def test_case30_with_its_lines_schedules_devices_within_every_rating():
    grid = Grid.load("case30")
    devs = generate_devices(grid, evs=60, batteries=6, dr=4, seed=3)
    prob = Dispatch.from_grid(grid, periods=12, levels=2, seed=1, network=True, devices=devs)
    sol = solve(prob, "milp", seed=1, time_limit_s=60)
    plan = prob.decode(sol).validate()
    dev = plan.device_mw()
    assert prob.devices.check_schedule(dev, 12) == []
    choice = prob.level_choice(sol.bits)
    assert prob.line_violations(prob.output_mw(choice), dev) == []
    unc = prob.uncontrolled()
    uplan = unc.decode(solve(unc, "milp", seed=1, time_limit_s=60)).validate()
    assert plan.objective <= uplan.objective + 1e-6
    # flexibility never raises the day's peak (the models cap it at the uncontrolled one)
    assert (plan.demand.load_mw + plan.demand.devices_mw).max() <= (
        uplan.demand.load_mw + uplan.demand.devices_mw).max() + 1e-6


# ------------------------------------------------------------------------------ the plan's own checks
def _tamper(plan, device, change):
    tab = plan.device_schedule.copy()
    rows = tab.device == device
    tab.loc[rows, "p_mw"] = change(tab.loc[rows, "p_mw"].to_numpy())
    # keep soc_mwh consistent with the tampered p_mw, so only the device rules can object
    dev = tab.pivot(index="period", columns="device", values="p_mw")[list(plan.devices.names)].to_numpy()
    tab["soc_mwh"] = plan.devices.schedule_table(dev, plan.profile.periods).soc_mwh.to_numpy()
    return dataclasses.replace(plan, device_schedule=tab)


def test_validate_catches_an_ev_short_of_energy(case9_runs):
    plan = case9_runs[True][2]
    ev = next(d.device for d in plan.devices.items if d.kind == "ev")
    with pytest.raises(PlanValidationError, match=f"EV '{ev}' gets .* short of"):
        _tamper(plan, ev, lambda p: p * 0.5).validate()


def test_validate_catches_a_battery_out_of_its_bounds(case9_runs):
    plan = case9_runs[True][2]
    bat = next(d for d in plan.devices.items if d.kind == "battery")
    with pytest.raises(PlanValidationError, match=f"battery '{bat.device}' period .* state of charge"):
        _tamper(plan, bat.device, lambda p: np.full_like(p, bat.max_rate_mw)).validate()


def test_validate_catches_a_forged_soc_column_and_charging_while_away(case9_runs):
    plan = case9_runs[True][2]
    tab = plan.device_schedule.copy()
    tab.loc[tab.kind == "battery", "soc_mwh"] += 1.0
    with pytest.raises(PlanValidationError, match="soc_mwh does not match"):
        dataclasses.replace(plan, device_schedule=tab).validate()
    j, ev = next((j, d) for j, d in enumerate(plan.devices.items) if d.kind == "ev")
    away = int(np.flatnonzero(ev.availability(12) == 0)[0])

    def shift(p):
        q = p.copy()
        q[away] += 0.001
        return q
    with pytest.raises(PlanValidationError, match="while away"):
        _tamper(plan, ev.device, shift).validate()


# ------------------------------------------------------------------------------ the CLI
def test_the_cli_writes_the_device_schedule_and_the_comparison(tmp_path, case9):
    devs = generate_devices(case9, evs=12, batteries=2, dr=2, seed=5, aggregation=150)
    path = devs.write_csv(tmp_path / "devices.csv")
    out = tmp_path / "out"
    rc = main(["--quiet", "run", "--problem", "dispatch", "--grid", "case9", "--periods", "6", "--levels", "2",
               "--devices", str(path), "--solver", "milp", "cpsat", "--out", str(out)])
    assert rc == 0
    (milp,) = out.glob("dispatch/*/milp")
    sched = pd.read_csv(milp / "device_schedule.csv")
    assert tuple(sched.columns) == SCHEDULE_COLUMNS and len(sched) == 6 * len(devs)
    s = json.loads((milp / "summary.json").read_text())
    block = s["devices"]
    assert s["device_policy"] == block["device_policy"] == "optimised"
    for side in ("controlled", "uncontrolled"):
        assert {"peak_load_mw", "cost_eur", "violations"} <= set(block[side])
    assert block["controlled"]["cost_eur"] <= block["uncontrolled"]["cost_eur"] + 1e-6
    assert s["objective"] == pytest.approx(block["controlled"]["cost_eur"])
    (cp,) = out.glob("dispatch/*/cpsat")
    assert json.loads((cp / "summary.json").read_text())["device_policy"] == "uncontrolled"


@pytest.mark.parametrize("extra, words", [
    (["--evs", "3"], ("--evs", "--devices")),
    ([], ("--devices", "bus", "77", "line 2")),
])
def test_bad_device_input_at_the_cli_is_one_line_and_writes_nothing(tmp_path, capsys, extra, words):
    bad = _write(tmp_path, "car,ev,77,18:00,07:30+1,20,5,,,,,,,,,")
    rc = main(["--quiet", "run", "--problem", "dispatch", "--grid", "case9", "--periods", "4", "--solver", "milp",
               "--out", str(tmp_path / "o"), "--devices", str(bad), *extra])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1
    assert all(w in err for w in words), err
    assert not (tmp_path / "o").exists()


def test_devices_generated_from_the_cli_flags_are_seeded(tmp_path):
    a = Devices(generate_devices(Grid.load("case9"), evs=3, seed=1).items)
    rc = main(["--quiet", "run", "--problem", "dispatch", "--grid", "case9", "--periods", "4", "--levels", "2", "--evs", "3",
               "--solver", "milp", "--out", str(tmp_path / "o")])
    assert rc == 0
    (d,) = (tmp_path / "o").glob("dispatch/*/milp")
    sched = pd.read_csv(d / "device_schedule.csv")
    assert sorted(set(sched.device)) == sorted(a.names)


def test_job_files_take_a_device_file_relative_to_the_job_and_refuse_it_beside_generated_devices(tmp_path, case9):
    from optimizer.runs.job_file import JobError, load_job

    generate_devices(case9, evs=2, seed=1).write_csv(tmp_path / "devs.csv")
    job = tmp_path / "job.yaml"
    job.write_text("output: out\nsolvers: [{name: milp}]\n"
                   "scenarios: [{problem: dispatch, grid: case9, periods: 4, devices: devs.csv}]\n")
    (run,) = load_job(job).runs
    assert run.params["devices"] == str((tmp_path / "devs.csv").resolve())
    job.write_text("output: out\nsolvers: [{name: milp}]\n"
                   "scenarios: [{problem: dispatch, grid: case9, devices: devs.csv, evs: 4}]\n")
    with pytest.raises(JobError, match=r"scenarios\[0\]\.evs: the device file brings its own devices"):
        load_job(job)
    job.write_text("output: out\nsolvers: [{name: milp}]\nscenarios: [{problem: dispatch, evs: -1}]\n")
    with pytest.raises(JobError, match=r"scenarios\[0\]\.evs"):
        load_job(job)
