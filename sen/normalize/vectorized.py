"""Column-at-a-time normalization for Arrow arrays and pandas Series.

Each distinct value is normalized once (dictionary encoding), so a column of millions of rows costs one
Python call per distinct value; the per-value functions are also lru-cached across calls.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sen.normalize.common import EMPTY, count_flag, count_rejection
from sen.normalize.identifiers import identifier_outcome
from sen.normalize.phones import DEFAULT_REGION, e164_flag, resolve_region

ArrayLike = pa.Array | pa.ChunkedArray | pd.Series | Sequence[object] | np.ndarray


def _as_string_array(values: ArrayLike) -> pa.Array:
    if isinstance(values, pd.Series):
        array: pa.Array | pa.ChunkedArray = pa.array(values.astype(object), from_pandas=True)
    elif isinstance(values, pa.Array | pa.ChunkedArray):
        array = values
    else:
        array = pa.array(list(values), from_pandas=True)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if array.type != pa.string():
        # Ids sometimes arrive as integers (CSV inference); normalize their text form.
        array = pc.cast(array, pa.string())
    return array


def _normalize_one_type(values: pa.Array, identifier_type: str, region: str | None) -> pa.Array:
    encoded = pc.dictionary_encode(values)
    uniques = encoded.dictionary.to_pylist()
    outcomes = [identifier_outcome(v, identifier_type, region) for v in uniques]
    result = pa.array([o.value for o in outcomes], type=pa.string()).take(encoded.indices)
    flagged = [e164_flag(o.value) if identifier_type == "phone" else None for o in outcomes]
    rejected = [i for i, o in enumerate(outcomes) if (o.reason and o.reason != EMPTY) or flagged[i]]
    if rejected:
        indices = encoded.indices.drop_null().to_numpy()
        per_unique = np.bincount(indices, minlength=len(uniques))
        reasons: Counter[str] = Counter()
        flags: Counter[str] = Counter()
        for i in rejected:
            if outcomes[i].reason:
                reasons[outcomes[i].reason or ""] += int(per_unique[i])
            else:
                flags[flagged[i] or ""] += int(per_unique[i])
        for reason, n in reasons.items():
            count_rejection(identifier_type, reason, n)
        for flag, n in flags.items():
            count_flag(identifier_type, flag, n)
    return result


def _groups(keys: pa.Array) -> list[tuple[str | None, np.ndarray]]:
    encoded = pc.dictionary_encode(keys)
    codes = encoded.indices.fill_null(-1).to_numpy()
    labels = encoded.dictionary.to_pylist()
    return [(labels[c] if c >= 0 else None, np.flatnonzero(codes == c)) for c in np.unique(codes)]


def _scatter(n: int, parts: list[tuple[np.ndarray, pa.Array]]) -> pa.Array:
    out = np.full(n, None, dtype=object)
    for positions, part in parts:
        out[positions] = part.to_numpy(zero_copy_only=False)
    return pa.array(out, type=pa.string(), from_pandas=True)


def normalize_arrow(
    values: ArrayLike,
    identifier_type: str | ArrayLike,
    region: str | ArrayLike | None = None,
) -> pa.Array:
    """Normalize a column; `identifier_type` and `region` may be one value or one value per row.

    Rows whose type or region is null use no type (-> null) and the default region respectively.
    """
    array = _as_string_array(values)
    if isinstance(region, str) or region is None:
        regions = None
        region_value: str | None = resolve_region(region)
    else:
        regions = _as_string_array(region)
        distinct = pc.unique(regions).to_pylist()
        region_value = resolve_region(distinct[0]) if len(distinct) == 1 else None
        if region_value is not None:
            regions = None
    if isinstance(identifier_type, str):
        if regions is None:
            return _normalize_one_type(array, identifier_type, region_value)
        parts = [
            (pos, _normalize_one_type(array.take(pos), identifier_type, resolve_region(r)))
            for r, pos in _groups(regions)
        ]
        return _scatter(len(array), parts)
    types = _as_string_array(identifier_type)
    if len(types) != len(array):
        raise ValueError(f"identifier_type has {len(types)} rows but values have {len(array)}")
    parts = []
    for type_name, pos in _groups(types):
        if type_name is None:
            continue
        region_part = region_value if regions is None else regions.take(pos)
        parts.append((pos, normalize_arrow(array.take(pos), type_name, region_part)))
    return _scatter(len(array), parts)


def normalize_series(
    series: pd.Series, identifier_type: str, region: str | None = DEFAULT_REGION
) -> pd.Series:
    """pandas wrapper of normalize_arrow keeping the index; rejected values become missing."""
    result = normalize_arrow(series, identifier_type, region).to_pandas()
    result.index = series.index
    result.name = series.name
    return result
