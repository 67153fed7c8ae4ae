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
    if isinstance(values, np.ndarray) and values.dtype.kind == "U":
        values = values.astype(object)  # Arrow converts Python str objects far faster than fixed-width UCS-4
    return pa.array(values, type=pa.string())


def const(value: str | None, n: int) -> pa.Array:
    return pa.nulls(n, pa.string()) if value is None else pa.repeat(pa.scalar(value, pa.string()), n)


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
    full = [pa.scalar(p, pa.string()) if isinstance(p, str) else arr(p) for p in parts]
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


def _digits_into(out: np.ndarray, col: int, values: np.ndarray, width: int) -> None:
    v = values.copy()
    for i in range(col + width - 1, col - 1, -1):
        out[:, i] = 48 + v % 10
        v //= 10


def format_ts(
    values: np.ndarray, *, unit: str = "s", sep: str = "T", suffix: str = "", shift_s: int = 0
) -> pa.Array:
    """Epoch seconds (unit 's') or milliseconds ('ms') as 'YYYY-MM-DD<sep>HH:MM:SS[.fff]<suffix>', vectorized."""
    v = np.asarray(values, dtype=np.int64)
    ms = v % 1000 if unit == "ms" else None
    secs = (v // 1000 if unit == "ms" else v) + shift_s
    days = secs // 86_400
    sod = secs - days * 86_400
    d64 = days.astype("datetime64[D]")
    month_start = d64.astype("datetime64[M]")
    year = month_start.astype("datetime64[Y]").astype(np.int64) + 1970
    month = month_start.astype(np.int64) % 12 + 1
    day = (d64 - month_start).astype(np.int64) + 1
    tail = (4 if ms is not None else 0) + len(suffix)
    out = np.empty((v.size, 19 + tail), dtype=np.uint8)
    _digits_into(out, 0, year, 4)
    out[:, 4] = out[:, 7] = ord("-")
    _digits_into(out, 5, month, 2)
    _digits_into(out, 8, day, 2)
    out[:, 10] = ord(sep)
    _digits_into(out, 11, sod // 3600, 2)
    out[:, 13] = out[:, 16] = ord(":")
    _digits_into(out, 14, sod // 60 % 60, 2)
    _digits_into(out, 17, sod % 60, 2)
    col = 19
    if ms is not None:
        out[:, 19] = ord(".")
        _digits_into(out, 20, ms, 3)
        col = 23
    if suffix:
        out[:, col:] = np.frombuffer(suffix.encode(), dtype=np.uint8)
    return from_matrix(out)


def iso_utc(seconds: np.ndarray) -> pa.Array:
    return format_ts(seconds, suffix="Z")


def iso_utc_ms(millis: np.ndarray) -> pa.Array:
    return format_ts(millis, unit="ms", suffix="Z")


def iso_local_ms(millis: np.ndarray) -> pa.Array:
    return format_ts(millis, unit="ms", suffix="+07:00", shift_s=LOCAL_OFFSET_S)


def naive_local(seconds: np.ndarray) -> pa.Array:
    return format_ts(seconds, sep=" ", shift_s=LOCAL_OFFSET_S)


def naive_utc(seconds: np.ndarray) -> pa.Array:
    return format_ts(seconds, sep=" ")


def iso_local(seconds: np.ndarray) -> pa.Array:
    return format_ts(seconds, suffix="+07:00", shift_s=LOCAL_OFFSET_S)


def mixed_local_ts(rng: np.random.Generator, seconds: np.ndarray, p_offset: float, p_utc: float) -> pa.Array:
    """Timestamps for sources whose contract timezone is local: mostly naive local, some +07:00, some Z."""
    u = rng.random(len(seconds))
    style = np.where(u < p_utc, 2, np.where(u < p_utc + p_offset, 1, 0))
    return pick(style, [naive_local(seconds), iso_local(seconds), iso_utc(seconds)])


def local_date(seconds: np.ndarray) -> pa.Array:
    return pc.utf8_slice_codeunits(naive_local(seconds), 0, 10)


# --- JSON ----------------------------------------------------------------------------------------------------


def jstr(a: Strs) -> pa.Array:
    """A JSON string literal per row (null stays null, meaning 'omit the key')."""
    escaped = pc.replace_substring(pc.replace_substring(arr(a), "\\", "\\\\"), '"', '\\"')
    return cat('"', escaped, '"')


def jsafe(a: Strs) -> pa.Array:
    """A JSON string literal for values known to hold no quote or backslash (ids, timestamps)."""
    return cat('"', a, '"')


def jint(values: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    out = ints(values)
    return out if mask is None else null_unless(mask, out)


def jobj(
    fields: Sequence[tuple[str, Strs | pa.Scalar]],
    *,
    required: Sequence[str] = (),
    empty_as_null: bool = False,
) -> pa.Array:
    """A JSON object per row from (key, JSON fragment) pairs; keys whose fragment is null are left out.

    Keys named in `required` must never be null; they are written first, which lets the whole object be
    assembled in one pass (large nested values are copied once).
    """
    req = [(k, v) for k, v in fields if k in required]
    opt = [(k, v) for k, v in fields if k not in required]
    if not req:
        # (null_handling="skip" with "," as separator would be neater, but drops all-null rows in Arrow 26)
        frags = [cat(f',"{key}":', value) for key, value in opt]
        body = pc.utf8_slice_codeunits(pc.binary_join_element_wise(*frags, "", null_handling="replace"), 1)
        out = cat("{", body, "}")
        if empty_as_null:
            out = pc.if_else(pc.equal(body, ""), pa.scalar(None, pa.string()), out)
        return out
    parts: list[pa.Array | pa.Scalar] = []
    for i, (key, value) in enumerate(req):
        parts += [
            pa.scalar(("{" if i == 0 else ",") + f'"{key}":', pa.string()),
            value if isinstance(value, pa.Scalar) else arr(value),
        ]
    parts += [cat(f',"{key}":', value) for key, value in opt]
    parts.append(pa.scalar("}", pa.string()))
    return pc.binary_join_element_wise(*parts, "", null_handling="replace")
