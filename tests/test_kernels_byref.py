"""``kernels.byref.by_ref``: a named tuple passed to compiled helpers by reference reads
and writes the same as the tuple itself (its reference is the tuple's own members)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from spreadarb._jit import JIT_DISABLED, jit
from spreadarb.kernels.byref import by_ref


class Inner(NamedTuple):
    counts: np.ndarray
    scale: float


class Outer(NamedTuple):
    values: np.ndarray
    grid: np.ndarray  # 2-D
    flag: bool
    step: int
    inner: Inner


@jit(refcount=False, internal=True)
def _read(o: Outer, i: int) -> float:
    """Every kind of member: 1-D and 2-D arrays, bool, int, float, a nested tuple."""
    total = o.values[i] + o.grid[i, 1] + o.step + o.inner.scale * o.inner.counts[i]
    return -total if o.flag else total


@jit(refcount=False, internal=True)
def _write(o: Outer, i: int) -> None:
    o.values[i] += 1.0
    o.inner.counts[i] = o.step
    _read_nested(o.inner, i)


@jit(refcount=False, internal=True)
def _read_nested(inner: Inner, i: int) -> None:
    inner.counts[i] += 1


@jit(refcount=False)
def _through_ref(o: Outer, i: int) -> float:
    r = by_ref(o)
    _write(r, i)
    return _read(r, i)


@jit(refcount=False)
def _by_value(o: Outer, i: int) -> float:
    _write(o, i)
    return _read(o, i)


def _outer(values: list[float], flag: bool, step: int, scale: float) -> Outer:
    n = len(values)
    return Outer(
        values=np.array(values, dtype=np.float64),
        grid=np.arange(2 * n, dtype=np.float64).reshape(n, 2),
        flag=flag,
        step=step,
        inner=Inner(counts=np.zeros(n, dtype=np.int64), scale=scale),
    )


def _oracle(o: Outer, i: int) -> float:
    """What ``_write`` then ``_read`` do, in numpy (the helpers are compiled-only)."""
    o.values[i] += 1.0
    o.inner.counts[i] = o.step + 1
    total = o.values[i] + o.grid[i, 1] + o.step + o.inner.scale * o.inner.counts[i]
    return float(-total if o.flag else total)


finite = st.floats(-1e6, 1e6, allow_nan=False)


@given(
    st.lists(finite, min_size=1, max_size=8),
    st.booleans(),
    st.integers(-1000, 1000),
    finite,
    st.data(),
)
def test_a_reference_reads_and_writes_like_the_tuple(values, flag, step, scale, data):
    i = data.draw(st.integers(0, len(values) - 1))
    through_ref, by_value, expected = (_outer(values, flag, step, scale) for _ in range(3))
    assert _through_ref(through_ref, i) == _by_value(by_value, i) == _oracle(expected, i)
    for got in (through_ref, by_value):
        np.testing.assert_array_equal(got.values, expected.values)
        np.testing.assert_array_equal(got.inner.counts, expected.inner.counts)


def test_outside_compiled_code_it_is_the_tuple_itself():
    o = _outer([1.0], True, 2, 3.0)
    assert by_ref(o) is o


@pytest.mark.skipif(JIT_DISABLED, reason="the numba type exists only with the JIT on")
def test_a_reference_is_one_pointer_not_the_members():
    """What the helpers receive: one pointer for the whole tuple; references to tuples of
    the same member types are the same numba type, to others a different one."""
    import numba
    from llvmlite import ir

    from spreadarb.kernels.byref import TupleRef

    outer = numba.typeof(_outer([1.0, 2.0], False, 1, 1.0))
    ref = TupleRef(outer)
    assert isinstance(numba.core.datamodel.default_manager[ref].get_argument_type(), ir.PointerType)
    assert ref == TupleRef(numba.typeof(_outer([5.0], True, 9, 0.0)))
    assert ref != TupleRef(numba.typeof(_outer([5.0], True, 9, 0.0)._replace(step=1.5)))
