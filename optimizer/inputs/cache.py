"""Derived data worth keeping between runs, under :func:`city_data.cache_dir` (``city_data/cache/derived/``).

What is kept is a pure function of its inputs (a road graph's candidate
routes, a city's distribution grid), filed under a hash of those inputs and of
:data:`CACHE_VERSION`: a changed input is a new file, never a stale answer.
The cache is best effort: a folder that cannot be written, or a file that
cannot be read back, means the value is computed, as without it.  Set
``CITYOPT_NO_CACHE=1`` to compute everything afresh.

Examples
--------
>>> import tempfile, os
>>> os.environ["CITYOPT_CACHE_DIR"] = tempfile.mkdtemp()
>>> calls = []
>>> def compute():
...     calls.append(1)
...     return {"answer": 42}
>>> cached_json("example", ["inputs", 1], compute)
{'answer': 42}
>>> cached_json("example", ["inputs", 1], compute), len(calls)  # read back: not computed again
({'answer': 42}, 1)
>>> del os.environ["CITYOPT_CACHE_DIR"]
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optimizer.io import atomic_write_bytes, atomic_write_json

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["CACHE_VERSION", "NO_CACHE_ENV_VAR", "cached_bytes", "cached_json", "file_hash", "graph_fingerprint",
           "source_hash"]

log = logging.getLogger(__name__)

#: Part of every key: raise it when what a cached function computes changes.
CACHE_VERSION = 1

#: ``CITYOPT_NO_CACHE=1``: read nothing from the cache and write nothing to it.
NO_CACHE_ENV_VAR = "CITYOPT_NO_CACHE"


def _path(kind: str, key: Any, suffix: str) -> Path | None:
    import city_data

    if os.environ.get(NO_CACHE_ENV_VAR, "").strip() not in ("", "0"):
        return None
    digest = hashlib.sha256(json.dumps([CACHE_VERSION, kind, key], default=str).encode()).hexdigest()[:24]
    return city_data.cache_dir() / "derived" / kind / f"{digest}{suffix}"


def cached_json(kind: str, key: Any, compute: Callable[[], Any], *,
                check: Callable[[Any], bool] | None = None) -> Any:
    """``compute()``, or what it returned before for ``(kind, key)`` (JSON; ``key`` JSON-able).

    ``check`` vets a value read back (False: computed afresh and filed again).
    """
    path = _path(kind, key, ".json")
    if path is not None and path.is_file():
        try:
            value = json.loads(path.read_text())
            if check is None or check(value):
                log.debug("cache hit %s %s", kind, path.name)
                return value
        except (OSError, ValueError):
            pass
    value = compute()
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_json(path, value)
        except OSError as exc:  # a read-only cache: computed each time
            log.debug("cache %s not written: %s", path, exc)
    return value


def cached_bytes(kind: str, key: Any, compute: Callable[[], bytes]) -> bytes:
    """``compute()`` (bytes), or what it returned before for ``(kind, key)``."""
    path = _path(kind, key, ".bin")
    if path is not None and path.is_file():
        try:
            return path.read_bytes()
        except OSError:
            pass
    value = compute()
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, value)
        except OSError as exc:
            log.debug("cache %s not written: %s", path, exc)
    return value


def graph_fingerprint(graph: nx.MultiDiGraph, *attrs: str) -> str:
    """A hash of a road graph's nodes, edges and the edge attributes ``attrs`` (what a derived value reads).

    >>> import networkx as nx
    >>> g = nx.MultiDiGraph(); _ = g.add_edge(1, 2, travel_time=3.0)
    >>> h = graph_fingerprint(g, "travel_time")
    >>> g.edges[1, 2, 0]["travel_time"] = 4.0
    >>> graph_fingerprint(g, "travel_time") == h
    False
    """
    h = hashlib.sha256()
    for n in sorted(graph.nodes, key=repr):
        h.update(repr(n).encode())
    for u, v, k, d in sorted(graph.edges(keys=True, data=True), key=lambda e: (repr(e[0]), repr(e[1]), repr(e[2]))):
        h.update(repr((u, v, k, *(d.get(a) for a in attrs))).encode())
    return h.hexdigest()


def source_hash(*modules: str) -> str:
    """A hash of the named modules' source files (a key part: editing the code that computes a value refiles it).

    >>> len(source_hash("optimizer.inputs.cache"))
    16
    """
    import importlib.util

    h = hashlib.sha256()
    for name in modules:
        spec = importlib.util.find_spec(name)
        origin = spec.origin if spec is not None else None
        h.update(name.encode())
        if origin and os.path.isfile(origin):
            h.update(Path(origin).read_bytes())
    return h.hexdigest()[:16]


def file_hash(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of a file's bytes (an input file as a key part)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
