"""Software prefetch hints: compiled, they change no result; in Python they do nothing."""

from __future__ import annotations

import numpy as np
import pytest

from spreadarb._jit import JIT_DISABLED, jit
from spreadarb.enums import opportunity_dt
from spreadarb.kernels.prefetch import prefetch, prefetch_for_write


@jit
def _sum_with_hints(values, table, records):
    total = 0.0
    for i in range(values.shape[0]):
        # Ahead of the array's end and before its start: a hint never faults.
        prefetch(values, i + 64)
        prefetch(values, i - 64)
        prefetch(table, np.int32(1), i)
        prefetch_for_write(records, i + 3)
        total += values[i] + table[1, i]
        records[i]["spread_bps"] = values[i]
    return total


def test_hints_change_no_result_even_out_of_bounds():
    values = np.arange(100.0)
    table = np.stack([np.zeros(100), np.arange(100.0) * 2])
    records = np.zeros(100, dtype=opportunity_dt)
    expected = float(values.sum() + table[1].sum())
    assert _sum_with_hints(values, table, records) == expected
    np.testing.assert_array_equal(records["spread_bps"], values)
    records = np.zeros(100, dtype=opportunity_dt)
    assert _sum_with_hints.py_func(values, table, records) == expected


def test_hints_do_nothing_in_python():
    values = np.arange(3.0)
    assert prefetch(values, 10**9) is None
    assert prefetch_for_write(values, -(10**9)) is None
    np.testing.assert_array_equal(values, np.arange(3.0))


@pytest.mark.skipif(JIT_DISABLED, reason="inspects the compiled machine code")
def test_compiled_hints_emit_prefetch_instructions():
    import numba

    # Not the package's cached jit: numba cannot show the machine code of cached kernels.
    @numba.njit
    def hinted(values):
        total = 0.0
        for i in range(values.shape[0]):
            prefetch(values, i + 8)
            total += values[i]
        return total

    assert hinted(np.arange(10.0)) == 45.0
    asm = "\n".join(hinted.inspect_asm().values())
    assert "prefetcht0" in asm
