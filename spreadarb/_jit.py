"""The package's single JIT decorator.

Every kernel is decorated with :func:`jit`. Setting the environment variable
``SPREADARB_DISABLE_JIT=1`` before importing spreadarb returns the undecorated
Python functions instead, so the pure-Python bodies can be stepped through in a
debugger and compared against the compiled ones (arch's ``recursions_python``
idea, applied package-wide).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

_FALSEY = {"", "0", "false", "no", "off"}

JIT_DISABLED: bool = os.environ.get("SPREADARB_DISABLE_JIT", "0").strip().lower() not in _FALSEY


def jit(fn: F) -> F:
    """Compile ``fn`` with ``numba.njit(cache=True, nogil=True)`` unless JIT is disabled.

    ``nogil`` lets kernels run in parallel threads on shared arrays (the sweep's
    local executor relies on it).

    The undecorated function stays reachable as ``fn.py_func`` in both modes, so
    tests can run the Python body and the compiled body on the same input.
    """
    if JIT_DISABLED:
        fn.py_func = fn  # type: ignore[attr-defined]
        return fn
    import numba

    return numba.njit(cache=True, nogil=True)(fn)
