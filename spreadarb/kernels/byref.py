"""Pass a named tuple of arrays to compiled helpers by reference.

numba passes a named tuple by value, as one machine argument per field of every member:
the engine's helpers take the books, the state and the records, about 300 machine
arguments per call, and every use of such an argument in a helper copies the whole
structure. That made most of the engine kernel's compile time (numba writes and LLVM
reads every copy) and a slow call besides. :func:`by_ref` stores the tuple once in the
caller's stack frame and gives the helpers its address instead: ``ref.field`` reads one
member through it (a member that is itself a named tuple is again a reference).

Outside compiled code (JIT disabled, or a kernel's ``py_func``) it returns the tuple
itself, so a helper's body reads the same either way. A reference is only valid while
the function that made it runs; the kernels use it for calls down the stack only.
"""

from __future__ import annotations

import zlib
from typing import Any, TypeVar

from spreadarb._jit import JIT_DISABLED

__all__ = ["by_ref"]

T = TypeVar("T")


def by_ref(values: T) -> T:
    """``values`` (a named tuple) by reference in compiled code; itself outside it."""
    return values


if not JIT_DISABLED:
    from numba import types
    from numba.core import cgutils
    from numba.core.typing.templates import AttributeTemplate
    from numba.extending import (
        infer_getattr,
        lower_builtin,
        lower_getattr_generic,
        models,
        register_model,
        type_callable,
    )

    class TupleRef(types.Type):
        """The address of a named tuple's data (numba type)."""

        def __init__(self, tuple_type: Any) -> None:
            self.dtype = tuple_type
            # The name goes into every mangled symbol that takes one: the tuple's own
            # name is hundreds of characters, so 64 bits of checksums of it stand in.
            text = str(tuple_type).encode()
            digest = f"{zlib.crc32(text):08x}{zlib.adler32(text):08x}"
            name = f"Ref[{tuple_type.instance_class.__name__}:{digest}]"
            super().__init__(name=name)

        @property
        def key(self) -> Any:
            return self.dtype

    register_model(TupleRef)(models.PointerModel)

    def _member(ref: Any, attr: str) -> tuple[int, Any] | None:
        fields = ref.dtype.fields
        if attr not in fields:
            return None
        index = fields.index(attr)
        member = ref.dtype.types[index]
        return index, TupleRef(member) if isinstance(member, types.BaseNamedTuple) else member

    @infer_getattr
    class _TupleRefAttributes(AttributeTemplate):
        key = TupleRef

        def generic_resolve(self, ref: Any, attr: str) -> Any:
            found = _member(ref, attr)
            return None if found is None else found[1]

    @lower_getattr_generic(TupleRef)
    def _lower_getattr(context: Any, builder: Any, ref: Any, pointer: Any, attr: str) -> Any:
        found = _member(ref, attr)
        assert found is not None  # typing accepted only the tuple's fields
        index, member = found
        address = cgutils.gep_inbounds(builder, pointer, 0, index)
        if isinstance(member, TupleRef):
            return address
        return context.unpack_value(builder, member, address)

    @type_callable(by_ref)
    def _type_by_ref(context: Any) -> Any:
        def typer(values: Any) -> Any:
            if isinstance(values, types.BaseNamedTuple):
                return TupleRef(values)
            return None

        return typer

    @lower_builtin(by_ref, types.BaseNamedTuple)
    def _lower_by_ref(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        model = context.data_model_manager[signature.args[0]]
        data = model.as_data(builder, args[0])
        # In the entry block: one slot per call site, however often it runs.
        pointer = cgutils.alloca_once(builder, data.type)
        builder.store(data, pointer)
        return pointer
