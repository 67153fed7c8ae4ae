"""Vectorized string building on Arrow arrays: ids, timestamps and JSON lines without per-row Python."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
ALNUM = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", dtype=np.uint8)
URLSAFE = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", dtype=np.uint8)
DIGITS = np.frombuffer(b"0123456789", dtype=np.uint8)

Strs = pa.Array | pa.ChunkedArray


def arr(values: object) -> pa.Array:
    """Any array-like of str (numpy U/object, list, Arrow) as an Arrow string array."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        return values if values.type == pa.string() else values.cast(pa.string())
    if isinstance(values, np.ndarray) and values.dtype.kind in "iu":
        return pa.array(values).cast(pa.string())
    return pa.array(values, type=pa.string())


def const(value: str | None, n: int) -> pa.Array:
    return (
        pa.nulls(n, pa.string()) if value is None else pa.array(np.full(n, value, dtype=object), pa.string())
    )


def from_matrix(chars: np.ndarray) -> pa.Array:
    """Rows of a uint8 (n, width) ASCII matrix as n strings of equal width, zero-copy into Arrow."""
    n, width = chars.shape
    offsets = np.arange(0, n * width + 1, width, dtype=np.int32)
    data = np.ascontiguousarray(chars, dtype=np.uint8).tobytes()
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets.tobytes()), pa.py_buffer(data))


def random_tokens(rng: np.random.Generator, n: int, width: int, alphabet: np.ndarray = ALNUM) -> pa.Array:
    return from_matrix(alphabet[rng.integers(0, len(alphabet), size=(n, width))])


def digits(values: np.ndarray, width: int) -> pa.Array:
    """Non-negative integers as zero-padded decimal strings of a fixed width."""
    v = np.asarray(values, dtype=np.int64).copy()
    out = np.empty((len(v), width), dtype=np.uint8)
    for i in range(width - 1, -1, -1):
        out[:, i] = DIGITS[v % 10]
        v //= 10
    return from_matrix(out)


def uuid4(rng: np.random.Generator, n: int) -> pa.Array:
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    hexed = np.empty((n, 32), dtype=np.uint8)
    hexed[:, 0::2] = HEX[raw >> 4]
    hexed[:, 1::2] = HEX[raw & 0x0F]
    dash = np.full((n, 1), ord("-"), dtype=np.uint8)
    parts = [
        hexed[:, 0:8],
        dash,
        hexed[:, 8:12],
        dash,
        hexed[:, 12:16],
        dash,
        hexed[:, 16:20],
        dash,
        hexed[:, 20:],
    ]
    return from_matrix(np.hstack(parts))


def hex_ids(rng: np.random.Generator, n: int, width: int) -> pa.Array:
    return random_tokens(rng, n, width, HEX)


def cat(*parts: Strs | str) -> pa.Array:
    """Element-wise concatenation; a null in any part gives null (use for optional JSON fragments)."""
    arrays = [p for p in parts if not isinstance(p, str)]
    n = len(arrays[0])
    full = [const(p, n) if isinstance(p, str) else arr(p) for p in parts]
    return pc.binary_join_element_wise(*full, "")


def cat_skip_nulls(*parts: Strs) -> pa.Array:
    return pc.binary_join_element_wise(*[arr(p) for p in parts], "", null_handling="replace")


def pick(index: np.ndarray, options: Sequence[Strs]) -> pa.Array:
    """For each row, the value of options[index[row]] at that row."""
    return pc.choose(pa.array(np.asarray(index, dtype=np.int8)), *[arr(o) for o in options])


def take(values: Sequence[str] | np.ndarray, index: np.ndarray) -> pa.Array:
    """Look up a small vocabulary by integer codes (vectorized dictionary decode)."""
    dictionary = pa.array(list(values), type=pa.string())
    return dictionary.take(pa.array(np.asarray(index, dtype=np.int64)))


def where(mask: np.ndarray, a: Strs, b: Strs | None = None) -> pa.Array:
    """a where mask else b (b defaults to null)."""
    a = arr(a)
    b = pa.nulls(len(a), pa.string()) if b is None else arr(b)
    return pc.if_else(pa.array(np.asarray(mask, dtype=bool)), a, b)


def null_unless(mask: np.ndarray, a: Strs) -> pa.Array:
    return where(mask, a)


def lower(a: Strs) -> pa.Array:
    return pc.utf8_lower(arr(a))


def upper(a: Strs) -> pa.Array:
    return pc.utf8_upper(arr(a))


def ints(values: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(values, dtype=np.int64)).cast(pa.string())


# --- timestamps: int64 seconds (or ms) since the Unix epoch, UTC ---------------------------------------------

LOCAL_OFFSET_S = 7 * 3600  # Asia/Ho_Chi_Minh has no DST


def _ts(values: np.ndarray, unit: str) -> pa.Array:
    return pa.array(np.asarray(values, dtype=np.int64), type=pa.timestamp(unit))


def iso_utc(seconds: np.ndarray) -> pa.Array:
    return cat(pc.strftime(_ts(seconds, "s"), format="%Y-%m-%dT%H:%M:%S"), "Z")


def iso_utc_ms(millis: np.ndarray) -> pa.Array:
    return cat(pc.strftime(_ts(millis, "ms"), format="%Y-%m-%dT%H:%M:%S"), "Z")


def iso_local_ms(millis: np.ndarray) -> pa.Array:
    shifted = np.asarray(millis, dtype=np.int64) + LOCAL_OFFSET_S * 1000
    return cat(pc.strftime(_ts(shifted, "ms"), format="%Y-%m-%dT%H:%M:%S"), "+07:00")


def naive_local(seconds: np.ndarray) -> pa.Array:
    shifted = np.asarray(seconds, dtype=np.int64) + LOCAL_OFFSET_S
    return pc.strftime(_ts(shifted, "s"), format="%Y-%m-%d %H:%M:%S")


def iso_local(seconds: np.ndarray) -> pa.Array:
    shifted = np.asarray(seconds, dtype=np.int64) + LOCAL_OFFSET_S
    return cat(pc.strftime(_ts(shifted, "s"), format="%Y-%m-%dT%H:%M:%S"), "+07:00")


def mixed_local_ts(rng: np.random.Generator, seconds: np.ndarray, p_offset: float, p_utc: float) -> pa.Array:
    """Timestamps for sources whose contract timezone is local: mostly naive local, some +07:00, some Z."""
    u = rng.random(len(seconds))
    style = np.where(u < p_utc, 2, np.where(u < p_utc + p_offset, 1, 0))
    return pick(style, [naive_local(seconds), iso_local(seconds), iso_utc(seconds)])


def local_date(seconds: np.ndarray) -> pa.Array:
    shifted = np.asarray(seconds, dtype=np.int64) + LOCAL_OFFSET_S
    return pc.strftime(_ts(shifted, "s"), format="%Y-%m-%d")


# --- JSON ----------------------------------------------------------------------------------------------------


def jstr(a: Strs) -> pa.Array:
    """A JSON string literal per row (null stays null, meaning 'omit the key')."""
    escaped = pc.replace_substring(pc.replace_substring(arr(a), "\\", "\\\\"), '"', '\\"')
    return cat('"', escaped, '"')


def jint(values: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    out = ints(values)
    return out if mask is None else null_unless(mask, out)


def jobj(fields: Sequence[tuple[str, Strs]], *, empty_as_null: bool = False) -> pa.Array:
    """A JSON object per row from (key, JSON fragment) pairs; keys whose fragment is null are left out."""
    frags = [cat(f',"{key}":', value) for key, value in fields]
    joined = pc.binary_join_element_wise(*frags, "", null_handling="replace")
    body = pc.utf8_slice_codeunits(joined, 1)
    out = cat("{", body, "}")
    if empty_as_null:
        out = where(np.asarray(pc.equal(out, "{}").to_numpy(zero_copy_only=False), dtype=bool) == 0, out)
    return out
