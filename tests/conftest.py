"""Fixtures shared by every test: isolation from the network and the real cache,
the bundled Helsinki city (loaded once per worker), and small synthetic graphs.

- Every test runs with ``CITYOPT_CACHE_DIR`` pointing to its own temporary folder.
- Every test runs with outbound network connections refused: ``socket.connect``
  and name lookups fail for any host that is not this machine.  Loopback stays
  open because local services (a local Dask cluster) talk over it.
- The online place path is tested against a loopback OpenStreetMap service
  (``tests/optimizer/test_city_online.py``), so no test needs the internet.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.helpers import grid_graph as _grid_graph

_LOCAL_NAMES = frozenset(
    {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback", ""}
)


# ------------------------------------------------------------------ network guard
class NetworkBlockedError(OSError):
    """A test tried to reach another machine."""


def _is_local(host: Any) -> bool:
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if not isinstance(host, str):
        return False
    if host.lower() in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _is_local_address(address: Any) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return True
    if isinstance(address, tuple) and address:
        return _is_local(address[0])
    return False


def _block_network(patcher: pytest.MonkeyPatch) -> None:
    """Make non-loopback connections and name lookups raise :class:`NetworkBlockedError`."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> Any:
        if not _is_local_address(address):
            raise NetworkBlockedError(f"tests must not use the network (connect to {address!r})")
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> Any:
        if not _is_local_address(address):
            raise NetworkBlockedError(f"tests must not use the network (connect to {address!r})")
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not _is_local(host):
            raise NetworkBlockedError(f"tests must not use the network (look up {host!r})")
        return real_getaddrinfo(host, *args, **kwargs)

    patcher.setattr(socket.socket, "connect", connect)
    patcher.setattr(socket.socket, "connect_ex", connect_ex)
    patcher.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Own cache folder per test; no network beyond this machine."""
    monkeypatch.setenv("CITYOPT_CACHE_DIR", str(tmp_path_factory.mktemp("cityopt-cache")))
    _block_network(monkeypatch)
    yield


# ------------------------------------------------------------------ data fixtures
@pytest.fixture(scope="session")
def helsinki() -> Any:
    """The bundled Helsinki city, loaded offline once per test process (read-only!)."""
    from optimizer.inputs.city import City

    with pytest.MonkeyPatch.context() as patcher:
        _block_network(patcher)
        return City.load("helsinki")


@pytest.fixture
def grid_graph() -> Any:
    """A fresh 4 x 4 two-way street grid near Helsinki (see :func:`tests.helpers.grid_graph`)."""
    return _grid_graph()


@pytest.fixture
def make_grid_graph() -> Callable[..., Any]:
    """The grid builder itself, for other sizes: ``make_grid_graph(3, 5, spacing_m=200)``."""
    return _grid_graph
