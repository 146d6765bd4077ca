"""Grids (bundled, SimBench, pandapower JSON, MATPOWER) and their day profiles."""

from __future__ import annotations

import math

import numpy as np
import pytest

from optimizer.errors import (
    DemandError,
    GridError,
    GridNotFoundError,
    InvalidGridFileError,
    InvalidInputError,
)
from optimizer.inputs.grid import Grid, is_simbench_code
from optimizer.inputs.profiles import MIXED_LOAD, DayProfile, check_periods, day_profile

CASE5_M = """function mpc = case5
mpc.version = '2';
mpc.baseMVA = 100;
mpc.bus = [
\t1\t3\t0\t0\t0\t0\t1\t1\t0\t230\t1\t1.1\t0.9;
\t2\t1\t90\t30\t0\t0\t1\t1\t0\t230\t1\t1.1\t0.9;
\t3\t2\t0\t0\t0\t0\t1\t1\t0\t230\t1\t1.1\t0.9;
];
mpc.gen = [
\t1\t40\t0\t30\t-30\t1\t100\t1\t100\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0;
\t3\t50\t0\t30\t-30\t1\t100\t1\t80\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0;
];
mpc.branch = [
\t1\t2\t0.01\t0.1\t0.02\t250\t250\t250\t0\t0\t1\t-360\t360;
\t2\t3\t0.01\t0.1\t0.02\t250\t250\t250\t0\t0\t1\t-360\t360;
\t1\t3\t0.01\t0.1\t0.02\t250\t250\t250\t0\t0\t1\t-360\t360;
];
mpc.gencost = [
\t2\t0\t0\t3\t0.01\t20\t0;
\t2\t0\t0\t3\t0.02\t15\t0;
];
"""


@pytest.fixture(scope="module")
def case9() -> Grid:
    return Grid.load("case9")


# ------------------------------------------------------------------ bundled grids
def test_case9_units_carry_matpower_costs(case9: Grid) -> None:
    units = case9.units()
    assert [(u.kind, u.index) for u in units] == [("ext_grid", 0), ("gen", 0), ("gen", 1)]
    pc = case9.net.poly_cost
    for u in units:
        row = pc[(pc.et == u.kind) & (pc.element == u.index)].iloc[0]
        assert (u.cost.c0, u.cost.c1, u.cost.c2) == (row.cp0_eur, row.cp1_eur_per_mw, row.cp2_eur_per_mw2)
    ext = units[0]
    assert (ext.p_min_mw, ext.p_max_mw) == (10.0, 250.0)
    assert units[1].startup_eur == pytest.approx(20.0 * 300.0)


@pytest.mark.parametrize(("name", "kinds"), [
    ("case30", {"ext_grid", "gen"}),
    ("case118", {"ext_grid", "gen"}),
    ("mv_oberrhein", {"ext_grid"}),
    ("cigre_mv_der", {"ext_grid", "sgen", "storage"}),
])
def test_bundled_grids_load_offline(name: str, kinds: set[str]) -> None:
    g = Grid.load(name)
    units = g.units()
    assert {u.kind for u in units} == kinds
    assert all(u.p_max_mw > 0 for u in units)
    assert g.summary()["bus"] > 0


def test_cigre_storage_defaults() -> None:
    g = Grid.load("cigre_mv_der")
    bats = [u for u in g.units() if u.kind == "storage"]
    assert len(bats) == 2
    b = bats[0]
    assert b.e_max_mwh == pytest.approx(4.0 * b.p_max_mw)  # NaN max_e_mwh -> four hours
    assert b.e_init_mwh == pytest.approx(0.5 * b.e_max_mwh)
    # PV and wind sgens are renewable output, CHP and fuel cells are units
    sg = {u.name for u in g.units() if u.kind == "sgen"}
    assert "CHP diesel 1" in sg and not any(n.startswith("PV") for n in sg)


# ------------------------------------------------------------------ bad input
def test_unknown_grid_names_the_choices() -> None:
    with pytest.raises(GridNotFoundError, match="unknown grid 'atlantis'.*case9") as e:
        Grid.load("atlantis")
    assert isinstance(e.value, InvalidInputError) and isinstance(e.value, ValueError)


def test_missing_file(tmp_path) -> None:
    with pytest.raises(GridNotFoundError, match="does not exist"):
        Grid.load(tmp_path / "nope.json")


@pytest.mark.parametrize(("fname", "text"), [
    ("junk.json", '{"hello": [1, 2, 3]}'),
    ("broken.json", "{not json"),
    ("junk.m", "this is not a matpower case\n"),
    ("grid.txt", "bus,load\n"),
])
def test_non_case_files_are_refused(tmp_path, fname: str, text: str) -> None:
    p = tmp_path / fname
    p.write_text(text)
    with pytest.raises((InvalidGridFileError, GridNotFoundError)):
        Grid.load(p)


def test_text_file_by_name_is_refused(tmp_path) -> None:
    p = tmp_path / "grid.txt"
    p.write_text("x")
    with pytest.raises(InvalidGridFileError, match="suffix '.txt'"):
        Grid.load(str(p))


def test_grid_without_controllable_unit(tmp_path) -> None:
    import pandapower as pp

    net = pp.create_empty_network()
    b = pp.create_bus(net, 20.0)
    pp.create_load(net, b, p_mw=1.0)
    path = tmp_path / "loads_only.json"
    pp.to_json(net, str(path))
    g = Grid.load(path)
    assert g.source == "json"
    with pytest.raises(GridError, match="no controllable unit"):
        g.units()
    from optimizer.problems.dispatch.problem import Dispatch

    with pytest.raises(GridError, match="no controllable unit"):
        Dispatch.from_grid(g, periods=4)


# ------------------------------------------------------------------ files
def test_pandapower_json_round_trip(tmp_path, case9: Grid) -> None:
    import pandapower as pp

    path = tmp_path / "case9.json"
    pp.to_json(case9.net, str(path))
    g = Grid.load(str(path))
    assert g.name == "case9" and g.source == "json"
    assert [u.to_dict() for u in g.units()] == [u.to_dict() for u in case9.units()]


def test_matpower_m_file(tmp_path) -> None:
    path = tmp_path / "case5.m"
    path.write_text(CASE5_M)
    g = Grid.load(path)
    assert g.source == "matpower"
    units = g.units()
    assert [u.kind for u in units] == ["ext_grid", "gen"]
    assert (units[0].cost.c1, units[0].cost.c2, units[0].p_max_mw) == (20.0, 0.01, 100.0)
    assert (units[1].cost.c1, units[1].cost.c2, units[1].p_max_mw) == (15.0, 0.02, 80.0)


def test_matpower_mat_file(tmp_path, case9: Grid) -> None:
    from pandapower.converter.matpower import to_mpc

    path = tmp_path / "case9.mat"
    to_mpc(case9.copy_net(), str(path), init="flat")
    g = Grid.load(path)
    assert g.source == "matpower" and len(g.units()) == 3


# ------------------------------------------------------------------ SimBench
def test_simbench_code_shape() -> None:
    assert is_simbench_code("1-LV-rural1--0-sw") and is_simbench_code("1-HVMV-mixed-all-0-no_sw")
    assert not is_simbench_code("case9")
    with pytest.raises(GridNotFoundError, match="not a known SimBench code"):
        Grid.load("1-XX-nowhere--0-sw")


def test_simbench_grid_and_its_profiles() -> None:
    g = Grid.load("1-LV-rural1--0-sw")
    assert g.source == "simbench" and g.simbench_code == "1-LV-rural1--0-sw"
    p = day_profile(g, 24, seed=3)
    assert p.source == "simbench" and 0 <= p.day < 366
    assert p.load_p_mw.shape == (24, len(g.net.load))
    assert np.all(p.load_mw > 0) and np.all(p.renewable_mw >= 0)
    q = day_profile(g, 96, day=p.day)
    # quarter hours average to the hours
    assert np.allclose(q.load_mw.reshape(24, 4).mean(axis=1), p.load_mw)


# ------------------------------------------------------------------ profiles
def test_standard_profile_shape_and_scale(case9: Grid) -> None:
    p = day_profile(case9, 24, noise=False)
    assert p.source == "standard" and p.dt_h == 1.0
    assert np.allclose(p.load_mw, np.asarray(MIXED_LOAD) * case9.nominal_load_mw())
    assert p.renewable_mw.sum() == 0.0
    p4 = day_profile(case9, 4, noise=False)
    assert np.allclose(p4.load_mw, p.load_mw.reshape(4, 6).mean(axis=1))


def test_seeded_variation(case9: Grid) -> None:
    a, b, c = (day_profile(case9, 24, seed=s) for s in (1, 1, 2))
    assert np.array_equal(a.load_mw, b.load_mw)
    assert not np.allclose(a.load_mw, c.load_mw)


def test_solar_is_zero_at_night() -> None:
    g = Grid.load("cigre_mv_der")
    p = day_profile(g, 24, noise=False)
    pv = [j for j, i in enumerate(p.sgen_index) if str(g.net.sgen.type.at[i]).lower().startswith("pv")]
    assert pv and np.all(p.sgen_p_mw[:5, pv] == 0.0) and np.all(p.sgen_p_mw[11:13, pv] > 0.0)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, 5, 7])
def test_bad_periods_name_the_field(bad) -> None:
    with pytest.raises(InvalidInputError, match="periods"):
        check_periods(bad)


def test_negative_demand_is_refused(case9: Grid) -> None:
    with pytest.raises(DemandError, match="negative demand.*load_factor"):
        DayProfile.from_factors(case9, [1.0, -0.2])
    net = case9.copy_net()
    net.load.loc[0, "p_mw"] = -5.0
    with pytest.raises(DemandError, match="negative demand"):
        day_profile(case9.with_net(net), 24)


def test_profile_rejects_nan(case9: Grid) -> None:
    p = day_profile(case9, 2, noise=False)
    bad = p.load_p_mw.copy()
    bad[0, 0] = math.nan
    with pytest.raises(DemandError, match="non-finite"):
        DayProfile(2, p.load_index, bad, p.load_q_mvar, p.sgen_index, p.sgen_p_mw)


# ------------------------------------------------------------------ grid files: the boundary checks
def _net_json(case9: Grid) -> dict:
    import json

    import pandapower as pp

    return json.loads(pp.to_json(case9.net))


def _load_text(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InvalidGridFileError) as info:
        Grid.load(path)
    message = str(info.value)
    assert name in message and "\n" not in message
    return message


def test_empty_truncated_and_foreign_json_are_named(tmp_path, case9: Grid) -> None:
    import json

    assert "is empty" in _load_text(tmp_path, "empty.json", "")
    whole = json.dumps(_net_json(case9))
    cut = _load_text(tmp_path, "cut.json", whole[: len(whole) // 2])
    assert "is not valid JSON" in cut and "line 1 column" in cut and "looks truncated" in cut
    assert "an object without _class 'pandapowerNet'" in _load_text(tmp_path, "other.json", '{"bus": []}')
    assert "(a list)" in _load_text(tmp_path, "list.json", "[1, 2]")
    nested = '{"_module": "pandapower.auxiliary", "_class": "pandapowerNet", "_object": ' + "[" * 5000 + "]" * 5000 + "}"
    assert "too deeply" in _load_text(tmp_path, "deep.json", nested)


def test_foreign_module_in_a_json_net_is_refused_before_pandapower_imports_it(
    tmp_path, case9: Grid, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json
    import sys

    # a module that leaves a mark when imported: pandapower would import it while reading the file
    mark = tmp_path / "imported"
    (tmp_path / "cityopt_trap.py").write_text(f"open({str(mark)!r}, 'w').close()\nclass Trap:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    trap = {"_module": "cityopt_trap", "_class": "Trap", "_object": "{}"}

    top = _net_json(case9)
    top["_object"]["bus"] = trap
    assert "names _module 'cityopt_trap' (_class 'Trap')" in _load_text(tmp_path, "top.json", json.dumps(top))

    inner = _net_json(case9)  # hidden in a table's JSON string, as pandapower stores cells
    table = json.loads(inner["_object"]["load"]["_object"])
    table["data"][0][0] = json.dumps(trap)
    inner["_object"]["load"]["_object"] = json.dumps(table)
    assert "'cityopt_trap'" in _load_text(tmp_path, "inner.json", json.dumps(inner))

    builtin = _net_json(case9)
    builtin["_object"]["x"] = {"_module": "builtins", "_class": "eval", "_object": "1"}
    assert "_module 'builtins' (_class 'eval')" in _load_text(tmp_path, "eval.json", json.dumps(builtin))
    assert "_module 'os' (_class 'system')" in _load_text(
        tmp_path, "os.json", '{"_module": "os", "_class": "system", "_object": "echo hi"}')
    assert not mark.exists() and "cityopt_trap" not in sys.modules


@pytest.mark.parametrize("name", ["cigre_mv_der", "mv_oberrhein",
                                  pytest.param("simbench_mv_rural", marks=pytest.mark.slow)])
def test_pandapower_written_nets_pass_the_module_check(tmp_path, name: str) -> None:
    import pandapower as pp

    grid = Grid.load(name)
    path = tmp_path / f"{name}.json"
    pp.to_json(grid.net, str(path))
    back = Grid.load(path)
    assert len(back.net.bus) == len(grid.net.bus) and len(back.units()) == len(grid.units())


def test_bad_values_in_a_json_net_name_table_element_and_column(tmp_path, case9: Grid) -> None:
    import pandapower as pp

    cases = [("load", "p_mw", math.inf, r"net\.load\.p_mw of element 0 is nan"),
             ("gen", "max_p_mw", 1e300, r"net\.gen\.max_p_mw of element 0 is 1e\+300"),
             ("load", "bus", 999, r"net\.load element 0 sits on bus 999, which net\.bus does not have")]
    for table, column, value, match in cases:
        net = case9.copy_net()
        net[table].loc[0, column] = value
        path = tmp_path / f"{table}-{column}.json"
        pp.to_json(net, str(path))
        with pytest.raises(InvalidGridFileError, match=match):
            Grid.load(path)


def test_matpower_garbage_and_a_case_without_generators(tmp_path) -> None:
    no_gen = CASE5_M.split("mpc.gen = [")[0] + "mpc.gen = [\n];\n" + "mpc.branch = [" + CASE5_M.split("mpc.branch = [")[1]
    message = _load_text(tmp_path, "nogen.m", no_gen)
    assert "it has no generators (mpc.gen is empty); add at least one generator" in message
    assert "has no mpc.bus table" in _load_text(tmp_path, "junk.m", "function mpc = x\nnot a case\n")
    mat = tmp_path / "junk.mat"
    mat.write_bytes(b"\x00\x01garbage")
    with pytest.raises(InvalidGridFileError, match=r"junk\.mat' is not a usable MATPOWER case: it cannot be parsed"):
        Grid.load(mat)


def test_grid_name_near_miss_suggests_the_bundled_grid() -> None:
    for typo in ("case9,", "CASE 9", "case99"):
        with pytest.raises(GridNotFoundError, match=r"did you mean 'case9'\?"):
            Grid.load(typo)
