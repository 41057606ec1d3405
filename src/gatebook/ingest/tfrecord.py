"""TensorBoard event files, decoded without TensorFlow: TFRecord framing, masked CRC-32C, scalar events.

An event file is a sequence of records, each ``length`` (u64 little-endian), ``masked_crc32c(length
bytes)`` (u32), ``length`` bytes of a serialized ``tensorflow.Event`` proto, ``masked_crc32c(data)``.
:func:`split_records` finds the complete records from an offset (a partial last record, the writer
mid-flush, is left for later); :func:`check_crcs` checks the CRCs of many records at once (numpy,
one vectorised CRC step per byte position across all records: tensorboard's own reader checks
them byte by byte in Python, which is most of its time); :func:`scalars` decodes the scalar values
of the events with a small hand-written protobuf reader (only the fields scalars need).

Scalars are what ``torch.utils.tensorboard.SummaryWriter.add_scalar`` writes (``simple_value``,
or with ``new_style=True`` a one-element float ``tensor`` of the ``scalars`` plugin) and what
``tf.summary.scalar`` writes (a tensor). A tensor value counts when it has one element of a float
or integer dtype and its tag is not another plugin's (the plugin is named by the first event of
a tag that carries metadata: TensorFlow writes it only once per tag). Nothing is sampled.
"""

from __future__ import annotations

import struct
from typing import Any, Iterable

__all__ = ["CorruptRecord", "ScalarPoint", "check_crcs", "is_event_file", "masked_crc32c", "scalars",
           "split_records"]

ScalarPoint = tuple[str, int, float, float]
"""(tag, step, value, wall_time)."""

HEADER = 12  # length (8) + its crc (4)
FOOTER = 4  # the data's crc
_MASK_DELTA = 0xA282EAD8
_POLY = 0x82F63B78
_TABLE: list[int] = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ _POLY if _c & 1 else _c >> 1
    _TABLE.append(_c)

# TensorFlow DataType numbers -> struct format of one element (float and integer kinds only)
_DT_FLOAT, _DT_DOUBLE, _DT_INT32, _DT_INT64, _DT_HALF = 1, 2, 3, 9, 19
_CONTENT = {_DT_FLOAT: "<f", _DT_DOUBLE: "<d", _DT_INT32: "<i", _DT_INT64: "<q", _DT_HALF: "<e"}
_UNPACK_F = struct.Struct("<f").unpack_from
_UNPACK_D = struct.Struct("<d").unpack_from
_UNPACK_Q = struct.Struct("<Q").unpack_from


class CorruptRecord(ValueError):
    """A record whose length or data fails its CRC, or whose event does not decode."""


def is_event_file(name: str) -> bool:
    """Whether a file name is a TensorBoard event file's (tensorboard's own rule: ``tfevents`` in it)."""
    return "tfevents" in name.rsplit("/", 1)[-1]


def masked_crc32c(data: bytes) -> int:
    """TFRecord's masked CRC-32C of ``data`` (pure Python: for a few bytes)."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    crc ^= 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def split_records(buf: bytes, start: int = 0) -> tuple[list[int], list[int], int]:
    """(offsets, lengths, end): the complete records of ``buf`` from ``start`` (offsets of their
    headers, their data lengths) and where the first incomplete one begins (``len(buf)`` when
    none). Lengths are not trusted yet: :func:`check_crcs` checks them."""
    offsets: list[int] = []
    lengths: list[int] = []
    pos, size = start, len(buf)
    while pos + HEADER <= size:
        (length,) = _UNPACK_Q(buf, pos)
        if pos + HEADER + length + FOOTER > size:
            if masked_crc32c(buf[pos:pos + 8]) != struct.unpack_from("<I", buf, pos + 8)[0]:
                raise CorruptRecord(f"bad record length at byte {pos}")
            break
        offsets.append(pos)
        lengths.append(length)
        pos += HEADER + length + FOOTER
    return offsets, lengths, pos


def check_crcs(buf: bytes, offsets: list[int], lengths: list[int]) -> None:
    """Raise :class:`CorruptRecord` naming the first record whose length or data CRC is wrong."""
    if not offsets:
        return
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy comes with tensorboard
        for off, length in zip(offsets, lengths, strict=True):
            _check_one(buf, off, length)
        return
    arr = np.frombuffer(buf, dtype=np.uint8)
    offs = np.asarray(offsets, dtype=np.int64)
    lens = np.asarray(lengths, dtype=np.int64)
    head = _crc_many(np, arr, offs, np.full(len(offs), 8, dtype=np.int64))
    data = _crc_many(np, arr, offs + HEADER, lens)
    bad = (head != _u32_at(np, arr, offs + 8)) | (data != _u32_at(np, arr, offs + HEADER + lens))
    if bad.any():
        first = int(np.argmax(bad))
        _check_one(buf, offsets[first], lengths[first])
        raise CorruptRecord(f"bad record at byte {offsets[first]}")  # pragma: no cover


def _check_one(buf: bytes, off: int, length: int) -> None:
    (head,) = struct.unpack_from("<I", buf, off + 8)
    if masked_crc32c(buf[off:off + 8]) != head:
        raise CorruptRecord(f"bad record length at byte {off}")
    (crc,) = struct.unpack_from("<I", buf, off + HEADER + length)
    if masked_crc32c(buf[off + HEADER:off + HEADER + length]) != crc:
        raise CorruptRecord(f"bad record data at byte {off}")


def _crc_many(np: Any, arr: Any, starts: Any, lengths: Any) -> Any:
    """Masked CRC-32C of many byte ranges at once: one table step per byte position, across the
    ranges still that long (sorted by length, longest first, so they are a prefix)."""
    table = np.asarray(_TABLE, dtype=np.uint32)
    order = np.argsort(-lengths, kind="stable")
    starts, lengths = starts[order], lengths[order]
    crc = np.full(len(starts), 0xFFFFFFFF, dtype=np.uint32)
    ascending = lengths[::-1]
    for j in range(int(lengths[0]) if len(lengths) else 0):
        k = len(lengths) - int(np.searchsorted(ascending, j, side="right"))  # ranges longer than j
        part = crc[:k]
        crc[:k] = table[(part ^ arr[starts[:k] + j]) & 0xFF] ^ (part >> 8)
    crc ^= np.uint32(0xFFFFFFFF)
    wide = crc.astype(np.uint64)
    masked = ((((wide >> 15) | (wide << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF
    out = np.empty(len(order), dtype=np.uint64)
    out[order] = masked
    return out


def _u32_at(np: Any, arr: Any, pos: Any) -> Any:
    b = [arr[pos + i].astype(np.uint64) for i in range(4)]
    return b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)


# -- protobuf: just the fields scalars need --------------------------------------------------------


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise CorruptRecord("varint too long")


def _fields(buf: bytes, pos: int, end: int) -> Iterable[tuple[int, int, Any]]:
    """(field, wire type, value): an int for varints, (start, end) for length-delimited, the raw
    offset for fixed32 / fixed64."""
    while pos < end:
        key, pos = _varint(buf, pos)
        wire = key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
            yield key >> 3, 0, value
        elif wire == 2:
            size, pos = _varint(buf, pos)
            if pos + size > end:
                raise CorruptRecord("field past the end of its message")
            yield key >> 3, 2, (pos, pos + size)
            pos += size
        elif wire == 1:
            yield key >> 3, 1, pos
            pos += 8
        elif wire == 5:
            yield key >> 3, 5, pos
            pos += 4
        else:
            raise CorruptRecord(f"unknown wire type {wire}")
    if pos != end:
        raise CorruptRecord("message overruns its length")


def scalars(buf: bytes, offsets: list[int], lengths: list[int], plugins: dict[str, str]) -> list[ScalarPoint]:
    """The scalar points of the events in these records, in file order. ``plugins`` maps a tag to
    the plugin its metadata named (kept across calls on one file)."""
    out: list[ScalarPoint] = []
    for off, length in zip(offsets, lengths, strict=True):
        start = off + HEADER
        try:
            _event(buf, start, start + length, plugins, out)
        except (IndexError, struct.error) as exc:
            raise CorruptRecord(f"event at byte {off} does not decode ({exc})") from None
    return out


def _event(buf: bytes, pos: int, end: int, plugins: dict[str, str], out: list[ScalarPoint]) -> None:
    if buf[pos] == 0x09 and buf[pos + 9] == 0x10:  # the common shape, read straight: see _simple
        point = _simple(buf, pos, end)
        if point is not None:
            out.append(point)
            return
    wall, step, summary = 0.0, 0, None
    for field, wire, value in _fields(buf, pos, end):
        if field == 1 and wire == 1:
            (wall,) = _UNPACK_D(buf, value)
        elif field == 2 and wire == 0:
            step = value - (1 << 64) if value >= 1 << 63 else value
        elif field == 5 and wire == 2:
            summary = value
    if summary is None:
        return
    for field, wire, value in _fields(buf, summary[0], summary[1]):
        if field == 1 and wire == 2:
            tagged = _value(buf, value[0], value[1], plugins)
            if tagged is not None:
                out.append((tagged[0], step, tagged[1], wall))


def _simple(buf: bytes, pos: int, end: int) -> ScalarPoint | None:
    """An event of exactly ``wall_time, step, summary {value {tag, simple_value}}`` (what
    ``add_scalar`` writes), lengths under 128; None for any other shape (read field by field)."""
    step, p = _varint(buf, pos + 10)
    if end - p > 130 or buf[p] != 0x2A or buf[p + 2] != 0x0A or buf[p + 4] != 0x0A:
        return None
    size = buf[p + 5]
    if size + 9 >= 0x80:
        return None
    q = p + 6 + size
    if q + 5 != end or buf[q] != 0x15 or buf[p + 1] != size + 9 or buf[p + 3] != size + 7:
        return None
    (wall,) = _UNPACK_D(buf, pos + 1)
    return (buf[p + 6:q].decode("utf-8", "replace"), step - (1 << 64) if step >= 1 << 63 else step,
            _UNPACK_F(buf, q + 1)[0], wall)


def _value(buf: bytes, pos: int, end: int, plugins: dict[str, str]) -> tuple[str, float] | None:
    """(tag, value) of a Summary.Value that holds a scalar; else None."""
    tag, simple, tensor, plugin = "", None, None, None
    for field, wire, value in _fields(buf, pos, end):
        if field == 1 and wire == 2:
            tag = buf[value[0]:value[1]].decode("utf-8", "replace")
        elif field == 2 and wire == 5:
            (simple,) = _UNPACK_F(buf, value)
        elif field == 8 and wire == 2:
            tensor = value
        elif field == 9 and wire == 2:
            plugin = _plugin_name(buf, value[0], value[1])
    if plugin is not None and tag not in plugins:
        plugins[tag] = plugin
    if simple is not None:
        return tag, simple
    if tensor is None or plugins.get(tag, "scalars") not in ("scalars", ""):
        return None
    number = _tensor_scalar(buf, tensor[0], tensor[1])
    return None if number is None else (tag, number)


def _plugin_name(buf: bytes, pos: int, end: int) -> str:
    for field, wire, value in _fields(buf, pos, end):  # SummaryMetadata.plugin_data
        if field == 1 and wire == 2:
            for sub, sub_wire, name in _fields(buf, value[0], value[1]):  # PluginData.plugin_name
                if sub == 1 and sub_wire == 2:
                    return buf[name[0]:name[1]].decode("utf-8", "replace")
    return ""


def _tensor_scalar(buf: bytes, pos: int, end: int) -> float | None:
    """The one number of a one-element float or integer TensorProto; None otherwise."""
    dtype, elements = 0, 1
    values: list[float] = []
    for field, wire, value in _fields(buf, pos, end):
        if field == 1 and wire == 0:
            dtype = value
        elif field == 2 and wire == 2:  # TensorShapeProto: dim (2) { size (1) }
            for sub, sub_wire, dim in _fields(buf, value[0], value[1]):
                if sub == 2 and sub_wire == 2:
                    for f, w, size in _fields(buf, dim[0], dim[1]):
                        if f == 1 and w == 0:
                            elements *= size
        elif field == 4 and wire == 2 and dtype in _CONTENT:  # tensor_content
            fmt = _CONTENT[dtype]
            if value[1] - value[0] == struct.calcsize(fmt):
                values.append(struct.unpack_from(fmt, buf, value[0])[0])
        elif field == 5:  # float_val, packed or not
            values.extend(_packed(buf, wire, value, 4, "<f"))
        elif field == 6:  # double_val
            values.extend(_packed(buf, wire, value, 8, "<d"))
        elif field in (7, 10, 13) and wire in (0, 2):  # int_val, int64_val, half_val (as ints)
            ints = [value] if wire == 0 else _varints(buf, value[0], value[1])
            if field == 13:
                values.extend(struct.unpack("<e", struct.pack("<H", i & 0xFFFF))[0] for i in ints)
            else:
                values.extend(i - (1 << 64) if i >= 1 << 63 else i for i in ints)
    if dtype not in _CONTENT or elements != 1 or len(values) != 1:
        return None
    return float(values[0])


def _packed(buf: bytes, wire: int, value: Any, size: int, fmt: str) -> list[float]:
    if wire == 2:
        start, end = value
        return [struct.unpack_from(fmt, buf, p)[0] for p in range(start, end - size + 1, size)]
    if (wire, size) in ((5, 4), (1, 8)):
        return [struct.unpack_from(fmt, buf, value)[0]]
    return []


def _varints(buf: bytes, pos: int, end: int) -> list[int]:
    out = []
    while pos < end:
        number, pos = _varint(buf, pos)
        out.append(number)
    return out
