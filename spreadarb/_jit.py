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
from typing import Any, TypeVar, overload

F = TypeVar("F", bound=Callable[..., Any])

_FALSEY = {"", "0", "false", "no", "off"}

JIT_DISABLED: bool = os.environ.get("SPREADARB_DISABLE_JIT", "0").strip().lower() not in _FALSEY


@overload
def jit(fn: F) -> F: ...


@overload
def jit(
    *, inline: bool = False, refcount: bool = True, internal: bool = False
) -> Callable[[F], F]: ...


def jit(
    fn: F | None = None, *, inline: bool = False, refcount: bool = True, internal: bool = False
) -> F | Callable[[F], F]:
    """Compile ``fn`` with ``numba.njit(cache=True, nogil=True)`` unless JIT is disabled.

    ``nogil`` lets kernels run in parallel threads on shared arrays (the sweep's
    local executor relies on it).

    Used bare (``@jit``) or with options (``@jit(refcount=False)``):

    inline
        Inline the function into its callers at numba's IR level (``inline="always"``).
        For small functions called on every event: a call passes every array of its
        tuple arguments as separate machine arguments, which costs more than the body.
        Elsewhere a plain call is better: each inlined call site is typed and lowered
        again (numba's compile time), and LLVM inlines small callees by itself.
    refcount
        ``False`` compiles without numba's runtime (NRT): no reference counting of
        arrays, so a function cannot allocate one (numba refuses to compile it).
        Each array taken from a tuple or passed to a call otherwise costs atomic
        reference-count updates, which dominated the event loop of the engine kernel.

    internal
        Compile no Python entry point (numba's CPython wrapper): for helpers
        that only other kernels call. Unboxing every array of a helper's tuple
        arguments from Python objects is code that was compiled and never run; the
        engine's helpers compile about 30 % faster without it. Calling such a function
        from Python is not possible (numba has nothing to call: it crashes); its
        ``py_func`` still is.

    The undecorated function stays reachable as ``fn.py_func`` in both modes, so
    tests can run the Python body and the compiled body on the same input.

    After changing these options on a function, clear the ``__pycache__`` folders:
    numba's on-disk cache key does not include them (``docs/development.md``).
    """

    def decorate(f: F) -> F:
        if JIT_DISABLED:
            f.py_func = f  # type: ignore[attr-defined]
            return f
        import numba

        # No cfunc wrapper for any kernel: it serves only numba's first-class function
        # values and ctypes-style calls, which nothing here uses, and compiling one per
        # kernel (unboxing every argument again) was part of every cold start.
        options: dict[str, Any] = {"cache": True, "nogil": True, "no_cfunc_wrapper": True}
        if inline:
            options["inline"] = "always"
        if not refcount:
            options["_nrt"] = False
        if internal:
            options["no_cpython_wrapper"] = True
        return numba.njit(**options)(f)

    if fn is not None:
        return decorate(fn)
    return decorate
