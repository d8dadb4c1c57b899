"""Software prefetch for kernels whose reads jump around large arrays.

:func:`prefetch` asks the CPU to start loading one array element into the cache and
returns at once; the kernel reads it some iterations later. It changes no result, only
when the memory arrives: the scan kernel reads each leg's ticker columns at rows that
depend on which venues are the legs, one cache miss per column per leg, and its loop body
is too long for the CPU to reach the next scan time's reads on its own.

Outside compiled code (JIT disabled, or a kernel's ``py_func``) it does nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from spreadarb._jit import JIT_DISABLED

__all__ = ["prefetch", "prefetch_for_write"]


def prefetch(values: np.ndarray, *index: int) -> None:
    """Hint that ``values[index]`` will be read soon (no effect outside compiled code).

    ``index`` has one integer per dimension of ``values`` (1-D or 2-D). An index out of
    bounds is harmless: a prefetch never faults and reads nothing into the program.
    """


def prefetch_for_write(records: np.ndarray, i: int) -> None:
    """Hint that every byte of ``records[i]`` (a 1-D array) will be written soon.

    Each cache line the element spans is fetched in a state ready for writing (a record
    of the opportunity log spans six). No effect outside compiled code.
    """


if not JIT_DISABLED:
    from llvmlite import ir
    from numba import types
    from numba.core import cgutils
    from numba.extending import lower_builtin, type_callable

    # Typed and lowered directly (numba's low-level extension API) rather than through
    # @overload: an overload compiles a small jitted body for every combination of
    # argument types, 0.2 s of a cold start for these hints.
    _I32 = ir.IntType(32)
    _BYTE_POINTER = ir.IntType(8).as_pointer()

    def _hint(builder: Any, pointer: Any, write: int) -> None:
        """``llvm.prefetch``: read (0) or write (1), keep in every cache level, data."""
        hint = cgutils.get_or_insert_function(
            builder.module,
            ir.FunctionType(ir.VoidType(), [_BYTE_POINTER, _I32, _I32, _I32]),
            "llvm.prefetch.p0",
        )
        builder.call(hint, [pointer, _I32(write), _I32(3), _I32(1)])

    def _element_pointer(
        context: Any, builder: Any, array_type: Any, array: Any, index_types: Any, indices: Any
    ) -> Any:
        array = context.make_array(array_type)(context, builder, array)
        indices = [
            context.cast(builder, value, t, types.intp)
            for value, t in zip(indices, index_types, strict=True)
        ]
        pointer = cgutils.get_item_pointer(
            context, builder, array_type, array, indices, wraparound=False
        )
        return builder.bitcast(pointer, _BYTE_POINTER)

    @type_callable(prefetch)
    def _type_prefetch(context: Any) -> Any:
        # Plain positional parameters (numba lowers a typer's ``*args`` as one tuple);
        # numba drops the unused trailing ones from the signature. Up to 2-D.
        def typer(values: Any, i0: Any, i1: Any = None) -> Any:
            index = (i0,) if i1 is None else (i0, i1)
            if (
                isinstance(values, types.Array)
                and len(index) == values.ndim
                and all(isinstance(t, types.Integer) for t in index)
            ):
                return types.none
            return None

        return typer

    @lower_builtin(prefetch, types.Array, types.VarArg(types.Integer))
    def _lower_prefetch(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        pointer = _element_pointer(
            context, builder, signature.args[0], args[0], signature.args[1:], args[1:]
        )
        _hint(builder, pointer, 0)
        return context.get_dummy_value()

    @type_callable(prefetch_for_write)
    def _type_prefetch_for_write(context: Any) -> Any:
        def typer(records: Any, i: Any) -> Any:
            ok = isinstance(records, types.Array) and records.ndim == 1
            return types.none if ok and isinstance(i, types.Integer) else None

        return typer

    @lower_builtin(prefetch_for_write, types.Array, types.Integer)
    def _lower_prefetch_for_write(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        start = _element_pointer(
            context, builder, signature.args[0], args[0], signature.args[1:], args[1:]
        )
        size = context.get_abi_sizeof(context.get_data_type(signature.args[0].dtype))
        # Every 64-byte line from the element's first byte to its last.
        for offset in [*range(0, size, 64), size - 1]:
            _hint(builder, builder.gep(start, [ir.Constant(ir.IntType(64), offset)]), 1)
        return context.get_dummy_value()
