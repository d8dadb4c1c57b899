"""Numba kernels: pure functions over numpy arrays, scalars and NamedTuples.

Modules here import only numpy, math, numba, typing and ``spreadarb._jit`` (a test
checks this). Each non-trivial kernel names its reference implementation, which is its
test oracle, and its ``py_func`` twin is tested against the compiled body.
"""
