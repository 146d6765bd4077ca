"""QAOA in Cirq: the ansatz circuit, simulator backends and the ``qaoa`` solver.

Importing this package is cheap: cirq, sympy and qsimcirq are imported only
when a circuit is built or :func:`solve_qaoa` runs.

Examples
--------
>>> from solvers import QUBO
>>> from solvers.qaoa import solve_qaoa
>>> q = QUBO.from_terms({0: 1.0, 1: -1.0}, {(0, 1): 2.0})
>>> sol = solve_qaoa(q, seed=3, depth=2, shots=512)
>>> sol.bits.tolist(), sol.resources["qubits"], sol.resources["two_qubit_gates"]
([0, 1], 2, 2)
"""

from solvers.qaoa.circuit import count_two_qubit_gates, qaoa_circuit
from solvers.qaoa.options import QAOAOptions
from solvers.qaoa.solver import solve_qaoa

__all__ = ["QAOAOptions", "count_two_qubit_gates", "qaoa_circuit", "solve_qaoa"]
