"""One factory from a scenario's parameters to its problem: ``build_problem("traffic", trips=6, routes=3)``.

``cityopt run``, batch jobs and the demo all build their problems here:

* ``traffic``: ``city``, ``trips``, ``routes``, ``seed``, ``weight``,
  ``min_distance_m``, or ``trips_csv`` (a CSV of trips in ``city``);
* ``fleet``: ``city``, ``stops``, ``vehicles``, ``capacity``, ``poi``, ``seed``,
  or ``stops_csv`` (stops in ``city``), or ``instance`` (a TSPLIB / CVRPLIB file;
  ``vehicles`` None: the file's);
* ``dispatch``: ``grid``, ``units``, ``periods``, ``levels``, ``seed``, ``day``,
  ``quantum_mw``, ``balancing``, ``load_scale``.

A ``city`` is a :class:`~optimizer.inputs.city.City` or what ``City.load`` takes
(loaded once per process and name: :func:`load_city`).

Examples
--------
>>> from optimizer.problems.dispatch.problem import QAOA_DEMO
>>> build_problem("dispatch", **QAOA_DEMO).to_qubo().num_variables <= 20
True
>>> build_problem("fleet", stops=3, colour="red")
Traceback (most recent call last):
...
solvers.errors.InvalidInputError: fleet scenarios take no parameter 'colour'; they take: capacity, city, instance, poi, seed, stops, stops_csv, vehicles
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from optimizer.errors import InvalidInputError

if TYPE_CHECKING:  # pragma: no cover
    from optimizer.inputs.city import City
    from optimizer.problems.base import Problem
    from optimizer.problems.dispatch.problem import Dispatch
    from optimizer.problems.fleet.problem import Fleet
    from optimizer.problems.traffic import Traffic

__all__ = ["build_problem", "load_city"]

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=4)
def load_city(spec: str) -> City:
    """``City.load(spec)``, once per process and spec (batch workers build many scenarios of one city)."""
    from optimizer.inputs.city import City

    t0 = time.perf_counter()
    city = City.load(spec)
    log.info("loaded %s in %.1fs", city.name, time.perf_counter() - t0)
    return city


def _city(city: City | str) -> City:
    return load_city(city) if isinstance(city, str) else city


def traffic(*, city: City | str = "helsinki", trips: int = 12, routes: int = 3, seed: int = 1,
            weight: str | None = None, min_distance_m: float = 300.0, trips_csv: str | None = None) -> Traffic:
    """Route assignment: ``trips`` sampled trips (or those of ``trips_csv``), ``routes`` candidates each."""
    from optimizer.problems.traffic import Traffic

    if trips_csv:
        return Traffic.from_csv(_city(city), trips_csv, routes=routes)
    return Traffic.from_city(_city(city), trips=trips, routes=routes, seed=seed, weight=weight,
                             min_distance_m=min_distance_m)


def fleet(*, city: City | str = "helsinki", stops: int = 8, vehicles: int | None = None,
          capacity: int | None = None, poi: str | None = None, seed: int = 1, stops_csv: str | None = None,
          instance: str | None = None) -> Fleet:
    """Fleet routing: ``stops`` sampled stops (or ``stops_csv``'s) in ``city``, or an instance file."""
    from optimizer.problems.fleet.problem import Fleet

    if instance:
        return Fleet.from_instance(instance, vehicles=vehicles)
    v = 1 if vehicles is None else vehicles
    if stops_csv:
        return Fleet.from_csv(_city(city), stops_csv, vehicles=v, capacity=capacity)
    return Fleet.from_city(_city(city), stops=stops, vehicles=v, capacity=capacity, poi=poi, seed=seed)


def dispatch(*, grid: str = "case9", units: int | None = None, periods: int = 24, levels: int = 1,
             seed: int | None = 1, day: int | None = None, quantum_mw: float | None = None,
             balancing: str = "auto", load_scale: float = 1.0) -> Dispatch:
    """A day's unit commitment and dispatch on ``grid``."""
    from optimizer.problems.dispatch.problem import Dispatch

    return Dispatch.from_grid(grid, units=units, periods=periods, levels=levels, seed=seed, day=day,
                              quantum_mw=quantum_mw, balancing=balancing, load_scale=load_scale)


_BUILDERS: dict[str, Callable[..., Problem]] = {"traffic": traffic, "fleet": fleet, "dispatch": dispatch}


def build_problem(problem: str, **params: Any) -> Problem:
    """The problem of kind ``problem`` (``traffic``, ``fleet``, ``dispatch``) that ``params`` describe.

    Parameters left out take the defaults of :func:`traffic`, :func:`fleet` and
    :func:`dispatch`; a parameter the kind does not take raises InvalidInputError.
    """
    try:
        builder = _BUILDERS[problem]
    except KeyError:
        msg = f"unknown problem {problem!r}; use one of: {', '.join(_BUILDERS)}"
        raise InvalidInputError(msg) from None
    takes = sorted(inspect.signature(builder).parameters)
    unknown = sorted(set(params) - set(takes))
    if unknown:
        msg = f"{problem} scenarios take no parameter {unknown[0]!r}; they take: {', '.join(takes)}"
        raise InvalidInputError(msg)
    return builder(**params)
