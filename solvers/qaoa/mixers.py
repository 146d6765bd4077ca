"""QAOA mixers and their initial states: the X mixer, and the XY mixers of one-hot groups.

A mixer layer is ``U_B(beta)``; the ansatz is

    |psi> = prod_{k=0}^{p-1} U_B(beta_k) exp(-i gamma_k C) |psi_0>.

Mixers (the ``mixer`` option):

- ``"x"``: ``U_B(beta) = exp(-i beta sum_j X_j)``, every qubit; ``|psi_0> = |+>^n``.
- ``"xy-ring"`` and ``"xy-complete"`` (Hadfield et al., Algorithms 12, 34, 2019):
  on each one-hot group ``g`` (a tuple of qubit indices), the product over the
  group's edges ``(a, b)``, in the fixed order below, of

      exp(-i beta (X_a X_b + Y_a Y_b) / 2),

  which rotates ``|01>`` and ``|10>`` of the pair into each other and leaves
  ``|00>`` and ``|11>`` alone, so it keeps the group's Hamming weight.  Qubits in
  no group get the X mixer ``exp(-i beta X_j)``.  Edge order:

  * ring: ``(g0, g1), (g1, g2), ..., (g_{k-1}, g0)``; for ``k = 2`` the one edge
    ``(g0, g1)``, for ``k = 1`` none;
  * complete: every pair ``(g[a], g[b])``, ``a < b``, positions in lexicographic
    order (``itertools.combinations(g, 2)``; the pairs ``i < j`` in lexicographic
    order when the group is sorted).

  One layer applies the groups in the order given, each group's edges in the order
  above, then the X rotations of the ungrouped qubits (which commute with the rest).
  Edges of one group do not commute with each other, so the order is part of the
  ansatz; both the Cirq circuit and the ``fast`` simulator follow it.

Initial states (the ``init_state`` option):

- ``"auto"``: ``"plus"`` for the X mixer, ``"w"`` for an XY mixer;
- ``"plus"``: ``|+>`` on every qubit (the X mixer only: an XY mixer cannot leave
  the Hamming weight it starts from, so it must start inside the one-hot subspace);
- ``"w"``: each group in its W state, the equal superposition of its ``k`` one-hot
  basis states (amplitudes ``1/sqrt(k)``), ungrouped qubits ``|+>``;
- ``"basis"``: each group in the basis state with its first qubit 1, ungrouped
  qubits ``|+>``.

From ``"w"`` or ``"basis"`` with an XY mixer every amplitude outside the one-hot
subspace of the groups is exactly zero, at every layer.

Examples
--------
>>> m = make_mixer("xy-ring", 5, groups=[(0, 1, 2), (3, 4)])
>>> m.edges
((0, 1), (1, 2), (2, 0), (3, 4))
>>> m.init_state, m.free_qubits
('w', ())
>>> make_mixer("xy-complete", 4, groups=[(3, 0, 2)]).edges, make_mixer("xy-complete", 4, groups=[(3, 0, 2)]).free_qubits
(((3, 0), (3, 2), (0, 2)), (1,))
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from solvers.errors import InvalidOptionError

__all__ = ["INIT_STATES", "MIXERS", "Mixer", "make_mixer"]

#: Names accepted by the ``mixer`` option.
MIXERS = ("x", "xy-ring", "xy-complete")
#: Names accepted by the ``init_state`` option.
INIT_STATES = ("auto", "plus", "w", "basis")


def _ring(group: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    k = len(group)
    if k < 2:
        return ()
    if k == 2:
        return ((group[0], group[1]),)
    return tuple((group[i], group[(i + 1) % k]) for i in range(k))


def _complete(group: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    return tuple(itertools.combinations(group, 2))


_EDGES = {"xy-ring": _ring, "xy-complete": _complete}


@dataclass(frozen=True)
class Mixer:
    """A validated mixer: which gates one mixer layer applies, and the initial state.

    Build it with :func:`make_mixer`.

    Attributes
    ----------
    name : {"x", "xy-ring", "xy-complete"}
        The mixer.
    num_qubits : int
        Qubits of the ansatz.
    groups : tuple of tuple of int
        The one-hot groups, as given (validated).
    init_state : {"plus", "w", "basis"}
        The initial state, ``"auto"`` resolved.
    """

    name: str
    num_qubits: int
    groups: tuple[tuple[int, ...], ...]
    init_state: str

    @property
    def is_xy(self) -> bool:
        return self.name != "x"

    @property
    def group_edges(self) -> tuple[tuple[tuple[int, int], ...], ...]:
        """The XY edges of each group, in application order (empty for the X mixer)."""
        if not self.is_xy:
            return ()
        return tuple(_EDGES[self.name](g) for g in self.groups)

    @property
    def edges(self) -> tuple[tuple[int, int], ...]:
        """Every XY edge of one layer, in application order."""
        return tuple(e for es in self.group_edges for e in es)

    @property
    def free_qubits(self) -> tuple[int, ...]:
        """Qubits that get the X mixer ``exp(-i beta X)``: all for ``"x"``, else the ungrouped."""
        if not self.is_xy:
            return tuple(range(self.num_qubits))
        grouped = {q for g in self.groups for q in g}
        return tuple(q for q in range(self.num_qubits) if q not in grouped)

    @property
    def prepared_groups(self) -> tuple[tuple[int, ...], ...]:
        """Groups that start in their W or basis state (none for ``"plus"``)."""
        return () if self.init_state == "plus" else self.groups

    @property
    def plus_qubits(self) -> tuple[int, ...]:
        """Qubits that start in ``|+>``."""
        prepared = {q for g in self.prepared_groups for q in g}
        return tuple(q for q in range(self.num_qubits) if q not in prepared)


def make_mixer(
    name: str,
    num_qubits: int,
    *,
    groups: Sequence[Sequence[int]] = (),
    init_state: str = "auto",
) -> Mixer:
    """Validate a mixer choice and return its :class:`Mixer`.

    Parameters
    ----------
    name : {"x", "xy-ring", "xy-complete"}
        The mixer.
    num_qubits : int
        Qubits of the ansatz.
    groups : sequence of sequence of int
        One-hot groups (qubit indices).  Needed by the XY mixers and by the
        ``"w"`` / ``"basis"`` initial states, where they must be disjoint;
        ignored (beyond their indices being checked) by ``"x"`` with ``"plus"``.
    init_state : {"auto", "plus", "w", "basis"}
        See the module docstring.

    Raises
    ------
    InvalidOptionError
        Unknown mixer or initial state; an XY mixer or a ``"w"`` / ``"basis"``
        state without groups; an XY mixer from ``"plus"``; a group that is empty,
        names a qubit outside ``0..num_qubits-1`` or repeats one; groups that
        overlap where they are used.
    """
    if name not in MIXERS:
        msg = f"option 'mixer' of solver 'qaoa' must be one of: {', '.join(MIXERS)}; got {name!r}"
        raise InvalidOptionError(msg)
    if init_state not in INIT_STATES:
        msg = (
            f"option 'init_state' of solver 'qaoa' must be one of: {', '.join(INIT_STATES)}; "
            f"got {init_state!r}"
        )
        raise InvalidOptionError(msg)
    checked: list[tuple[int, ...]] = []
    for g in groups:
        try:
            group = tuple(int(q) for q in g)
        except (TypeError, ValueError):
            msg = f"a one-hot group must be a sequence of qubit indices, got {g!r}"
            raise InvalidOptionError(msg) from None
        if not group:
            msg = "one-hot groups must not be empty"
            raise InvalidOptionError(msg)
        bad = [q for q in group if not 0 <= q < num_qubits]
        if bad:
            msg = f"one-hot group {group} names qubit(s) {bad} outside 0..{num_qubits - 1}"
            raise InvalidOptionError(msg)
        if len(set(group)) != len(group):
            msg = f"one-hot group {group} repeats a qubit"
            raise InvalidOptionError(msg)
        checked.append(group)
    resolved = init_state if init_state != "auto" else ("plus" if name == "x" else "w")
    if name != "x" and not checked:
        msg = (
            f"option 'mixer' of solver 'qaoa' is {name!r}, which needs one-hot groups "
            "(groups=[(i, j, ...), ...]) to act on; none were given (use mixer='x')"
        )
        raise InvalidOptionError(msg)
    if resolved in ("w", "basis") and not checked:
        msg = f"option 'init_state' of solver 'qaoa' is {resolved!r}, which needs one-hot groups"
        raise InvalidOptionError(msg)
    if name != "x" and resolved == "plus":
        msg = (
            f"option 'init_state' of solver 'qaoa' is 'plus', which leaves the one-hot subspace "
            f"that mixer {name!r} keeps; use 'w' or 'basis'"
        )
        raise InvalidOptionError(msg)
    if name != "x" or resolved != "plus":
        seen: dict[int, tuple[int, ...]] = {}
        for group in checked:
            for q in group:
                if q in seen:
                    msg = f"one-hot groups must be disjoint: qubit {q} is in {seen[q]} and {group}"
                    raise InvalidOptionError(msg)
                seen[q] = group
    return Mixer(name, int(num_qubits), tuple(checked), resolved)
