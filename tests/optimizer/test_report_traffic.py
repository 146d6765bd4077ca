"""The report's traffic judges: the best plan's volume/capacity map at its peak slice, and the plans'
model travel time against SUMO's (with AequilibraE's references), checked against the run folders."""

from __future__ import annotations

import base64
import io
import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from optimizer.report.charts import _model_vs_simulation_chart, _vc_peak_map, vc_column
from optimizer.report.html import model_vs_simulation, write_report
from optimizer.runs.results import ingest_outputs
from optimizer.runs.runner import SolverRequest, run_problem
from optimizer.runs.scenarios import build_problem


@pytest.fixture(scope="module")
def judged(tmp_path_factory: pytest.TempPathFactory, helsinki: Any) -> dict[str, Any]:
    """One small crowded peak, solved twice: with SUMO and AequilibraE (``--simulate --references``), and without."""
    out = tmp_path_factory.mktemp("report-traffic")
    prob = build_problem("traffic", city=helsinki, trips=60, routes=3, seed=2, vehicles_per_trip=8,
                         peak="07:00-07:20", slice_min=5)
    reqs = [SolverRequest("shortest"), SolverRequest("ue"), SolverRequest("anneal")]
    run_problem(prob, reqs, out=out / "judged", seed=1, simulate=True, references=True)
    run_problem(prob, reqs[:2], out=out / "plain", seed=1)
    pages = {}
    for kind in ("judged", "plain"):
        db = out / f"{kind}.duckdb"
        assert ingest_outputs(out / kind, db, job=kind) == (3 if kind == "judged" else 2)
        pages[kind] = write_report(db, out / f"{kind}.html").read_text(encoding="utf-8")
    summaries = {p.parent.name: json.loads(p.read_text(encoding="utf-8"))
                 for p in (out / "judged").glob("traffic/*/*/summary.json")}
    return {"out": out, "pages": pages, "summaries": summaries}


class _Page(HTMLParser):
    """Images (by ``data-figure``), the caption's attributes and text, and the model-vs-SUMO table's cells."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.figures: dict[str, dict[str, str]] = {}
        self.caption: dict[str, str] | None = None
        self.caption_text = ""
        self.table: dict[str, list[float | None]] = {}
        self._in_caption = False
        self._in_table = False
        self._plan: str | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "img" and "data-figure" in a:
            self.figures[a["data-figure"]] = a
        elif tag == "p" and a.get("class") == "caption":
            self.caption, self._in_caption = a, True
        elif tag == "table":
            self._in_table = a.get("class") == "model-vs-simulation"
        elif tag == "tr" and self._in_table and "data-plan" in a:
            self._plan = a["data-plan"]
            self.table[self._plan] = []
        elif tag == "td" and self._plan and "data-value" in a:
            self.table[self._plan].append(float(a["data-value"]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "p":
            self._in_caption = False
        elif tag == "table":
            self._in_table, self._plan = False, None

    def handle_data(self, data: str) -> None:
        if self._in_caption:
            self.caption_text += data


def _lowest(values: dict[str, float]) -> list[str]:
    low = min(values.values())
    return sorted(k for k, v in values.items() if v <= low * (1 + 1e-9))


def _png_pixels(src: str) -> Any:
    import numpy as np
    from PIL import Image

    assert src.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).convert("RGB"))


def test_the_vc_map_shows_the_winner_at_its_peak_slice(judged: dict[str, Any]) -> None:
    sums = judged["summaries"]
    winners = _lowest({k: s["objective"] for k, s in sums.items() if s["feasible"]})
    page = _Page(judged["pages"]["judged"])
    fig = page.figures["vc-peak-map"]
    assert fig["data-plan"] == winners[0]
    peak = sums[winners[0]]["assessment"]["peak_slice"]
    assert fig["data-slice"] == peak and peak in fig["alt"] and winners[0] in fig["alt"]
    assert _png_pixels(fig["src"]).shape[0] > 200
    # what it draws is the winner's segments in that slice
    path = next((judged["out"] / "judged").glob(f"traffic/*/{winners[0]}/segment_loads.geojson"))
    vcs = [f["properties"].get(vc_column(peak), 0.0) for f in json.loads(path.read_text(encoding="utf-8"))["features"]]
    assert int(fig["data-segments"]) == len(vcs) and int(fig["data-loaded"]) == sum(v > 0 for v in vcs) > 0
    assert int(fig["data-over"]) == sum(v > 1.0 for v in vcs)
    assert float(fig["data-max-vc"]) == max(vcs) <= sums[winners[0]]["assessment"]["max_volume_capacity"] + 1e-6


def test_model_against_sumo_names_the_winners_from_the_summaries(judged: dict[str, Any]) -> None:
    sums = judged["summaries"]
    model = {k: s["assessment"]["system_travel_time_veh_h"] for k, s in sums.items()}
    sumo = {k: s["simulation"]["total_travel_time_veh_h"] for k, s in sums.items()}
    mb, sb = _lowest(model), _lowest(sumo)
    page = _Page(judged["pages"]["judged"])
    assert "model-vs-simulation" in page.figures
    assert page.caption is not None
    assert page.caption["data-model-best"].split() == mb
    assert page.caption["data-sumo-best"].split() == sb
    agree = bool(set(mb) & set(sb))
    assert page.caption["data-agree"] == str(agree).lower()
    text = " ".join(page.caption_text.split())
    assert text.startswith(f"The model and SUMO {'agree' if agree else 'disagree'} on the best plan")
    for k in (mb if agree else mb + sb):
        assert k in text
    refs = next(iter(sums.values()))["references"]
    assert f"SO lower bound {refs['so_bound_veh_h']:.5g} veh-h" in text
    assert f"UE {refs['static']['ue']['system_travel_time_veh_h']:.5g} veh-h" in text
    assert f"{model[mb[0]]:.5g} veh-h" in text
    lost = [k for k, s in sums.items()
            if s["simulation"]["teleports"] or s["simulation"]["arrived"] < s["simulation"]["vehicles"]]
    assert ("not every vehicle drove its whole route" in text) == bool(lost)
    for k in lost:
        assert f"{k} " in text.split("whole route:")[1]
    # the table: each plan's two totals and its ranks by each, as the summaries give them
    assert set(page.table) == set(sums)
    for k, (m, mr, t, tr, *_rest) in page.table.items():
        assert (m, t) == (model[k], sumo[k])
        assert mr == 1 + sum(v < model[k] * (1 - 1e-9) for v in model.values())
        assert tr == 1 + sum(v < sumo[k] * (1 - 1e-9) for v in sumo.values())


def test_a_run_without_simulate_builds_a_report_without_the_chart(judged: dict[str, Any]) -> None:
    page = _Page(judged["pages"]["plain"])
    assert "vc-peak-map" in page.figures  # the model alone draws the map
    assert "model-vs-simulation" not in page.figures and page.caption is None and not page.table
    assert "No plan was replayed in SUMO" in judged["pages"]["plain"]


def _segments(tmp_path: Path, features: list[tuple[list[list[float]], dict[str, float]]]) -> Path:
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": p, "geometry": {"type": "LineString", "coordinates": c}}
        for c, p in features]}
    (tmp_path / "segment_loads.geojson").write_text(json.dumps(fc), encoding="utf-8")
    return tmp_path


def test_the_vc_map_colours_only_the_named_slice(tmp_path: Path) -> None:
    """West segment busy at 07:10 only, east segment over capacity at 07:15: at 07:15 the west one is grey
    and the east one has the colour bar's top colour (max(1.2, max v/c) = 1.5)."""
    import numpy as np
    from matplotlib import colormaps

    d = _segments(tmp_path, [([[24.90, 60.17], [24.90, 60.18]], {"vc 07:10": 1.4, "vc 07:15": 0.0}),
                             ([[24.95, 60.17], [24.95, 60.18]], {"vc 07:10": 0.0, "vc 07:15": 1.5})])
    img = _vc_peak_map(d, "07:15-07:20", "cpsat", "toy")
    assert img is not None and 'data-slice="07:15-07:20"' in img
    px = _png_pixels(img.split('src="')[1].split('"')[0]).astype(int)
    top = (np.array(colormaps["RdYlGn_r"](1.0)[:3]) * 255).round().astype(int)

    def columns_of(match: np.ndarray) -> np.ndarray:
        """Pixel columns where a long vertical line of matching pixels runs (a segment, not text or the bar)."""
        return np.nonzero(match.sum(axis=0) >= 100)[0]

    r, g, b = px[..., 0], px[..., 1], px[..., 2]
    red = columns_of(np.abs(px - top).sum(axis=2) <= 6)
    light = columns_of((np.abs(r - g) <= 2) & (np.abs(g - b) <= 2) & (r >= 150) & (r <= 240))  # light grey
    assert red.size and light.size
    assert light.max() < red.min()  # the west segment grey, the east one the top colour
    assert _vc_peak_map(d, "08:00-08:05", "cpsat", "toy") is None  # no such slice in the file


def test_model_vs_simulation_ties_agreement_and_absence() -> None:
    def s(model: float, sumo: float | None, **sim: int) -> dict[str, Any]:
        out: dict[str, Any] = {"feasible": True, "assessment": {"system_travel_time_veh_h": model}}
        if sumo is not None:
            out["simulation"] = {"total_travel_time_veh_h": sumo, "vehicles": 10, "arrived": 10, "teleports": 0,
                                 **sim}
        return out

    r = model_vs_simulation({"a": s(1.0, 2.0), "b": s(1.0, 3.0), "c": s(2.0, 2.0, teleports=2)})
    assert r is not None
    assert (r["model_best"], r["sumo_best"], r["agree"]) == (["a", "b"], ["a", "c"], True)
    assert r["text"].startswith("The model and SUMO agree on the best plan: a (1 veh-h in the model, 2 in SUMO).")
    assert "c 2 teleported" in r["text"] and r["so_bound"] is None
    assert [p["sumo_rank"] for p in r["points"]] == [1, 3, 1]
    chart = _model_vs_simulation_chart(r["points"], r["so_bound"], "toy")  # no references: no bound line
    assert chart is not None and 'data-figure="model-vs-simulation"' in chart
    assert model_vs_simulation({"a": s(1.0, None), "b": s(2.0, None)}) is None
    assert model_vs_simulation({}) is None

