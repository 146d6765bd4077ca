"""The online place path (``City.load("Place, Country")``) against a loopback OpenStreetMap service.

The real code path runs: osmnx geocodes the place with Nominatim, downloads the
road network and the POIs from Overpass, and cityopt normalises the graph and
caches it as GraphML.  The two services are a small HTTP server on 127.0.0.1
that answers like them (a 3 x 3 street grid inside a square boundary), so no
test leaves this machine; the server counts the requests, which shows that the
second load comes from the cache.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from optimizer.inputs.city import City, place_cache_path

LON0, LAT0, STEP = 24.940, 60.170, 0.002


def _grid_elements() -> list[dict]:
    nodes, ways = [], []
    ids = {}
    for r in range(3):
        for c in range(3):
            nid = 1000 + 10 * r + c
            ids[r, c] = nid
            nodes.append({"type": "node", "id": nid, "lat": LAT0 + r * STEP, "lon": LON0 + c * STEP})
    wid = 1
    for r in range(3):  # rows and columns: two-way residential streets
        ways.append({"type": "way", "id": wid, "nodes": [ids[r, c] for c in range(3)],
                     "tags": {"highway": "residential", "name": f"Row {r}", "maxspeed": "30"}})
        wid += 1
    for c in range(3):
        ways.append({"type": "way", "id": wid, "nodes": [ids[r, c] for r in range(3)],
                     "tags": {"highway": "residential", "name": f"Column {c}"}})
        wid += 1
    return nodes + ways


POIS = [{"type": "node", "id": 5000 + i, "lat": LAT0 + 0.001 + i * STEP, "lon": LON0 + 0.001,
         "tags": {"amenity": "pharmacy", "name": f"Apteekki {i}"}} for i in range(2)]
RING = [[LON0 - 0.001, LAT0 - 0.001], [LON0 + 0.005, LAT0 - 0.001], [LON0 + 0.005, LAT0 + 0.005],
        [LON0 - 0.001, LAT0 + 0.005], [LON0 - 0.001, LAT0 - 0.001]]
PLACE = [{"place_id": 1, "osm_type": "relation", "osm_id": 42, "lat": str(LAT0 + 0.002),
          "lon": str(LON0 + 0.002), "class": "boundary", "type": "administrative", "importance": 0.6,
          "display_name": "Testikylä, Finland",
          "boundingbox": [str(LAT0 - 0.001), str(LAT0 + 0.005), str(LON0 - 0.001), str(LON0 + 0.005)],
          "geojson": {"type": "Polygon", "coordinates": [RING]}}]


class FakeOSM(BaseHTTPRequestHandler):
    """Answers ``/search`` like Nominatim and ``/interpreter`` like Overpass."""

    hits: list[str] = []

    def log_message(self, *args: object) -> None:  # keep the test output clean
        pass

    def _send(self, payload: object) -> None:
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        path = urlparse(self.path).path
        self.hits.append(path)
        if path.endswith("/search"):
            self._send(PLACE)
        else:
            self.send_error(404)

    def do_POST(self) -> None:  # noqa: N802
        path = urlparse(self.path).path
        self.hits.append(path)
        query = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode()).get("data", [""])[0]
        if not path.endswith("/interpreter"):
            self.send_error(404)
        elif '"highway"' in query:
            self._send({"elements": _grid_elements()})
        else:
            self._send({"elements": POIS if "amenity" in query else []})


@pytest.fixture
def fake_osm(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    import osmnx as ox

    FakeOSM.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOSM)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    # osmnx re-points socket.getaddrinfo at the Overpass host: restore it after the test
    monkeypatch.setattr(socket, "getaddrinfo", socket.getaddrinfo)
    monkeypatch.setattr(ox.settings, "nominatim_url", url)
    monkeypatch.setattr(ox.settings, "overpass_url", url)
    monkeypatch.setattr(ox.settings, "overpass_rate_limit", False)
    try:
        yield FakeOSM.hits
    finally:
        server.shutdown()
        server.server_close()


def test_online_place_query_is_fetched_once_then_cached(fake_osm: list[str]) -> None:
    query = "Testikylä, Finland"
    city = City.load(query)
    G = city.graph
    assert city.source.kind == "place" and G.number_of_nodes() >= 4
    assert set(G.nodes) <= {1000 + 10 * r + c for r in range(3) for c in range(3)}
    for _, _, d in G.edges(data=True):
        assert d["length"] > 0 and d["travel_time"] > 0 and d["speed_kph"] > 0
    assert "/search" in fake_osm and "/interpreter" in fake_osm
    assert place_cache_path(query).is_file()

    calls = len(fake_osm)
    again = City.load(query)
    assert set(again.graph.nodes) == set(G.nodes)
    assert len(fake_osm) == calls, "the second load must come from the cache, not the service"
    assert set(again.pois["name"]) == {"Apteekki 0", "Apteekki 1"}


def test_an_unknown_place_is_a_clear_error(fake_osm: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from optimizer.errors import CityError

    monkeypatch.setattr(FakeOSM, "do_GET", lambda self: self._send([]))  # Nominatim finds nothing
    with pytest.raises(CityError, match="Nowhere, Atlantis"):
        City.load("Nowhere, Atlantis")
