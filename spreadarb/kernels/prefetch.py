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

    ``index`` has one integer per dimension of ``values``. An index out of bounds is
    harmless: a prefetch never faults and reads nothing into the program.
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
    from numba.extending import intrinsic, overload

    _I32 = ir.IntType(32)

    @intrinsic
    def _prefetch(typingctx: Any, values: Any, index: Any) -> Any:
        if not (
            isinstance(values, types.Array)
            and isinstance(index, types.BaseTuple)
            and len(index) == values.ndim
            and all(isinstance(t, types.Integer) for t in index)
        ):
            return None

        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            array_type, index_type = signature.args
            array = context.make_array(array_type)(context, builder, args[0])
            indices = [
                context.cast(builder, value, t, types.intp)
                for value, t in zip(
                    cgutils.unpack_tuple(builder, args[1], array_type.ndim), index_type, strict=True
                )
            ]
            pointer = cgutils.get_item_pointer(
                context, builder, array_type, array, indices, wraparound=False
            )
            byte_pointer = ir.IntType(8).as_pointer()
            hint = cgutils.get_or_insert_function(
                builder.module,
                ir.FunctionType(ir.VoidType(), [byte_pointer, _I32, _I32, _I32]),
                "llvm.prefetch.p0",
            )
            # Read (0), keep in every cache level (3), data cache (1).
            builder.call(hint, [builder.bitcast(pointer, byte_pointer), _I32(0), _I32(3), _I32(1)])
            return context.get_dummy_value()

        return types.void(values, index), codegen

    @intrinsic
    def _prefetch_lines(typingctx: Any, records: Any, i: Any) -> Any:
        if not (
            isinstance(records, types.Array) and records.ndim == 1 and isinstance(i, types.Integer)
        ):
            return None

        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            array_type, index_type = signature.args
            array = context.make_array(array_type)(context, builder, args[0])
            index = context.cast(builder, args[1], index_type, types.intp)
            pointer = cgutils.get_item_pointer(
                context, builder, array_type, array, [index], wraparound=False
            )
            byte_pointer = ir.IntType(8).as_pointer()
            start = builder.bitcast(pointer, byte_pointer)
            hint = cgutils.get_or_insert_function(
                builder.module,
                ir.FunctionType(ir.VoidType(), [byte_pointer, _I32, _I32, _I32]),
                "llvm.prefetch.p0",
            )
            size = context.get_abi_sizeof(context.get_data_type(array_type.dtype))
            # Every 64-byte line from the first byte to the last (write (1), all levels).
            for offset in [*range(0, size, 64), size - 1]:
                line = builder.gep(start, [ir.Constant(ir.IntType(64), offset)])
                builder.call(hint, [line, _I32(1), _I32(3), _I32(1)])
            return context.get_dummy_value()

        return types.void(records, i), codegen

    @overload(prefetch_for_write)
    def _prefetch_for_write_overload(records: Any, i: Any) -> Any:
        def impl(records: Any, i: Any) -> None:  # pragma: no cover - compiled
            _prefetch_lines(records, i)

        return impl

    @overload(prefetch)
    def _prefetch_overload(values: Any, *index: Any) -> Any:
        def impl(values: Any, *index: Any) -> None:  # pragma: no cover - compiled
            _prefetch(values, index)

        return impl
