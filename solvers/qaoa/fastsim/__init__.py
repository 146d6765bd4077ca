"""The project's own QAOA state-vector simulator, run by the ``fast`` backend.

- :mod:`~solvers.qaoa.fastsim.simulator`: :class:`FastSimulator`, the state, the
  expectation, the adjoint gradient and sampling (how it runs fast: its docstring);
- :mod:`~solvers.qaoa.fastsim.passes`: the passes over the state vector (phase
  layer, mixer blocks, XY edges), forward and backward;
- :mod:`~solvers.qaoa.fastsim.jit`: the compiled (Numba) kernels: the phase layer, the
  butterflies and stencils of the tile pass, the gathered pass of the high-order qubits;
- :mod:`~solvers.qaoa.fastsim.kernels`: the array module (numpy or CuPy), thread
  pools, tiling and the mixer blocks' matrices.

The simulator knows nothing of backends; :class:`solvers.qaoa.backends.fast.FastBackend`
wraps it.
"""

from solvers.qaoa.fastsim.kernels import PLATFORMS, PRECISIONS, gpu_status
from solvers.qaoa.fastsim.simulator import KERNELS, FastSimulator

__all__ = ["PLATFORMS", "KERNELS", "PRECISIONS", "FastSimulator", "gpu_status"]
