"""Compile a kernel ahead, in a child process, while this one does other work.

numba compiles while holding the GIL, so a thread cannot compile one kernel while another
thread compiles the next; a child process can. The child compiles the kernel for the
given argument types and writes it to numba's on-disk cache (every kernel is
``cache=True``); the parent waits for it just before the first call, which then loads the
machine code from the cache instead of compiling it.

This changes wall time only, on a machine with a free core: the compile costs the same
CPU (plus the child's imports, about 1 s), it just runs beside the parent's own compiles.
Nothing changes when the kernel is already compiled in this process or cached on disk
(the check costs one cache-index read), when JIT is disabled, on a single core, or with
``SPREADARB_COMPILE_AHEAD=0``. If the child fails or writes nothing (an unwritable cache,
a kernel numba refuses to cache), the first call compiles in-process as it would have
without it: the result is the same either way, only the time differs.

A child outlives a parent that exits without needing the kernel (a program that only
loads and scans) and finishes the cache for the next one. While it runs, a marker file
beside the cache index holds its pid: other processes start no second child for the same
kernel and signature, and wait for that one instead.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from spreadarb._jit import _FALSEY, JIT_DISABLED

# The child imports spreadarb's kernel modules without the package's __init__ (pyarrow
# and pandas were a third of its start-up, on the critical path of a cold backtest): the
# kernel modules need only numpy, numba and spreadarb._jit (tests/test_package.py::
# test_kernel_modules_import_only_numpy_math_numba).
_CHILD = """
import pickle, sys, types
sys.path[:0] = pickle.load(sys.stdin.buffer)
package = types.ModuleType("spreadarb")
package.__path__ = [pickle.load(sys.stdin.buffer)]
sys.modules["spreadarb"] = package
module, name, sig, marker = pickle.load(sys.stdin.buffer)
import importlib, os
try:
    getattr(importlib.import_module(module), name).compile(sig)
finally:
    try:
        os.remove(marker)
    except OSError:
        pass
"""

#: A marker older than this is stale (its child was killed before removing it).
_MARKER_MAX_AGE_S = 600.0

_lock = threading.Lock()
# By kernel and signature: a kernel may be started for one signature (say ``load``'s,
# which is that of every dataset it returns) and needed for another.
_running: dict[tuple[str, str, tuple[Any, ...]], subprocess.Popen[bytes]] = {}
# Markers of children other processes started, to wait for.
_foreign: dict[tuple[str, str, tuple[Any, ...]], Path] = {}


def enabled() -> bool:
    """Whether kernels may be compiled ahead in child processes: JIT on, not disabled by
    ``SPREADARB_COMPILE_AHEAD=0``, and a second core to run the child on (on one, the
    child's imports would only add to the wall time)."""
    flag = os.environ.get("SPREADARB_COMPILE_AHEAD", "1").strip().lower()
    return not JIT_DISABLED and flag not in _FALSEY and _cores() >= 2


def _cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def start(
    dispatcher: Any, arg_types: Callable[[], tuple[Any, ...]], *, llvm_opt: int | None = None
) -> None:
    """Start compiling ``dispatcher`` for the argument types ``arg_types()`` in a child
    process, unless it has been compiled in this process or is in the on-disk cache.

    ``llvm_opt`` is the child's LLVM optimisation level (``NUMBA_OPT``, 0-3; numba's
    default is 3) unless ``NUMBA_OPT`` is set: numba's cache index does not depend on it,
    so this process loads the child's machine code whatever the level. Results do not
    depend on it either (numba asks LLVM for no fast-math), only speed.

    Returns at once; call :func:`wait` before the first call of the kernel.
    """
    if not enabled() or dispatcher.overloads:
        return
    module, name = dispatcher.py_func.__module__, dispatcher.py_func.__qualname__
    with _lock:
        try:
            sig = arg_types()
        except Exception:  # the call will raise it, or compile in-process: not here
            return
        key = (module, name, sig)
        if key in _running or key in _foreign or _cached(dispatcher, sig):
            return
        marker = _marker(dispatcher, sig)
        if marker is None:
            return
        if _live_marker(marker):
            _foreign[key] = marker
            return
        # The child imports this very spreadarb (and whatever this process can import).
        # Its path is set once it has started, as this process's script folder was, not
        # through PYTHONPATH: a folder there would come before the standard library at
        # start-up, when a module named like a standard one (a bisect.py beside the
        # script) would replace it and break the child.
        package_root = str(Path(__file__).resolve().parents[1])
        path = [package_root, *(p for p in sys.path if p)]
        try:
            env = dict(os.environ)
            if llvm_opt is not None:
                env.setdefault("NUMBA_OPT", str(llvm_opt))
            child = subprocess.Popen(
                [sys.executable, "-c", _CHILD],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=env,
            )
        except Exception:  # no interpreter to start (an embedded Python): compile here
            return
        try:
            assert child.stdin is not None
            with contextlib.suppress(OSError):  # without it, only a second child may start
                marker.write_text(str(child.pid))
            payload = (path, str(Path(__file__).resolve().parent), (module, name, sig, marker))
            child.stdin.write(b"".join(pickle.dumps(part) for part in payload))
            child.stdin.close()
        except Exception:  # the child is gone (or cannot take the types): compile here
            child.kill()
            child.wait()
            _remove(marker)
            return
        _running[key] = child


def _marker(dispatcher: Any, sig: tuple[Any, ...]) -> Path | None:
    """The marker file of a child compiling ``dispatcher`` for ``sig``, beside numba's
    cache index (None, so nothing is started, if there is no such place)."""
    try:
        index = Path(dispatcher._cache._cache_file._index_path)
    except Exception:
        return None
    return index.with_name(f"{index.name}.{zlib.crc32(str(sig).encode()):08x}.ahead")


def _live_marker(marker: Path) -> bool:
    """Whether ``marker`` names a child that is still running."""
    try:
        pid = int(marker.read_text())
        if time.time() - marker.stat().st_mtime > _MARKER_MAX_AGE_S:
            return False
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    except (OSError, ValueError):  # no marker (or half written): nothing runs
        return False
    # A child that exited before its parent waited for it is a zombie (Linux tells).
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[-1].startswith("Z"):
            return False
    return True


def _remove(marker: Path) -> None:
    with contextlib.suppress(OSError):
        marker.unlink()


def _cached(dispatcher: Any, sig: tuple[Any, ...]) -> bool:
    """Whether numba's on-disk cache has ``dispatcher`` for ``sig`` (its index has the
    key numba would look up; nothing is loaded). True, so nothing is started, whenever
    that cannot be told: these are numba internals (as of numba 0.68)."""
    try:
        cache = dispatcher._cache
        if not cache._enabled:
            return True
        key = cache._index_key(sig, dispatcher.targetctx.codegen())
        return key in cache._cache_file._load_index()
    except Exception:
        return True


def wait(dispatcher: Any) -> None:
    """Wait for the children started by :func:`start` for ``dispatcher`` (if any) to finish.

    Every thread that calls it waits (the sweep runs backtests in threads): one that went
    on would compile the kernel itself meanwhile."""
    kernel = (dispatcher.py_func.__module__, dispatcher.py_func.__qualname__)
    with _lock:
        children = [(k, c) for k, c in _running.items() if k[:2] == kernel]
        markers = [(k, m) for k, m in _foreign.items() if k[:2] == kernel]
    for key, child in children:
        child.wait()
        with _lock:
            _running.pop(key, None)
        # The child removes its marker; one killed first cannot.
        marker = _marker(dispatcher, key[2])
        with contextlib.suppress(OSError, ValueError):
            if marker is not None and int(marker.read_text()) == child.pid:
                _remove(marker)
    for key, marker in markers:
        # Another process's child: polled until it is gone (then the cache has the kernel,
        # or the call compiles it here if that child failed).
        deadline = time.monotonic() + _MARKER_MAX_AGE_S
        while _live_marker(marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        with _lock:
            _foreign.pop(key, None)
