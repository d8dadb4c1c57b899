"""Record arrays to DataFrames at the API edge: codes to labels, ns to UTC datetimes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd


def records_frame(
    records: np.ndarray,
    *,
    times: Sequence[str] = (),
    labels: Mapping[str, Sequence[str]] | None = None,
) -> pd.DataFrame:
    """A DataFrame with one column per record field.

    Parameters
    ----------
    records
        A numpy structured array (one of the dtypes of :mod:`spreadarb.enums`).
    times
        int64 ns fields to turn into ``datetime64[ns, UTC]``; negative values (unset
        times) become NaT.
    labels
        Integer code fields to turn into categoricals with these categories (code ``i``
        is ``labels[field][i]``; -1 becomes missing).
    """
    import pandas as pd

    names = records.dtype.names or ()
    frame = pd.DataFrame({name: records[name] for name in names})
    for col in times:
        values = records[col]
        stamps = pd.to_datetime(np.where(values >= 0, values, 0), unit="ns", utc=True)
        frame[col] = pd.Series(stamps).where(values >= 0)
    for col, categories in (labels or {}).items():
        frame[col] = pd.Categorical.from_codes(
            np.asarray(records[col], dtype=np.int64), dtype=pd.CategoricalDtype(list(categories))
        )
    return frame
