"""Avro single-object encoding of `LogRecord` for the event log, and the container block the
sink hands to ClickHouse (docs/event-log.md).

A message is ``0xC3 0x01``, the writer schema's 8-byte CRC-64-AVRO fingerprint
(little endian), then the Avro binary record. Schemas come from the ``schemas``
package: ``content_action.avsc`` is the current (writer and reader) schema, and every
``history/*.avsc`` is an older writer schema that `AvroCodec.decode` still accepts,
resolving its records to the current schema (Avro schema resolution, by fastavro).

Encoding does not go through ``fastavro.schemaless_writer``: that re-parses the schema
on every call and costs more than the whole normalizer. `AvroCodec.encode` writes the
binary form directly, specialized to the field layout of `LogRecord`; the constructor
checks that the current schema has exactly the layout of `RECORD_COLUMNS` (names and Avro
kinds), and tests prove byte equality with fastavro. When the schema gains a field, update
`LogRecord` and `_fast_encoder` together (the constructor fails loudly until then).

Decoding returns a dict in the current schema's field order, with ``occurred_at`` as
epoch milliseconds (int), like `LogRecord`, rather than fastavro's datetime.
"""

from __future__ import annotations

import copy
import io
import json
import os
from collections.abc import Callable, Iterable, Sequence
from importlib.resources import files
from typing import Any

from fastavro import parse_schema, schemaless_reader
from fastavro.schema import fingerprint as _fastavro_fingerprint
from fastavro.schema import to_parsing_canonical_form

from actionlog.core.errors import ActionlogError
from actionlog.core.record import RECORD_COLUMNS, LogRecord

__all__ = [
    "HEADER_LEN",
    "MAGIC",
    "AvroCodec",
    "AvroDecodeError",
    "BadFraming",
    "UnknownSchema",
    "container",
    "occurred_at_of",
    "schema_fingerprint",
]

MAGIC = b"\xc3\x01"
"""The two marker bytes of Avro single-object encoding."""
HEADER_LEN = len(MAGIC) + 8
"""Bytes before the binary record: the marker and the fingerprint."""
_HEADER_LEN = HEADER_LEN
#: A varint of a 64-bit long takes at most 10 bytes; a longer one is corrupt (refused at once).
_MAX_VARINT_BYTES = 10

_CHR = tuple(chr(i) for i in range(256))
_MAX_FAST_LEN = 4096
# Varint bytes as latin-1 text (one char per byte): every complete varint below 2**14, and
# every 14-bit chunk as two bytes that both carry the continuation bit.
_SMALL = tuple(_CHR[n] if n < 0x80 else _CHR[n & 0x7F | 0x80] + _CHR[n >> 7] for n in range(1 << 14))
_CHUNK14 = tuple(_CHR[c & 0x7F | 0x80] + _CHR[c >> 7 | 0x80] for c in range(1 << 14))
_INT_MIN, _INT_MAX = -(1 << 31), (1 << 31) - 1
_LONG_MIN, _LONG_MAX = -(1 << 63), (1 << 63) - 1
_M14 = 0x3FFF


class AvroDecodeError(ValueError, ActionlogError):
    """A message of the event log cannot be decoded."""


class BadFraming(AvroDecodeError):
    """The message is not Avro single-object encoded, or its body does not decode."""


class UnknownSchema(AvroDecodeError):
    """The message's schema fingerprint matches none of the known writer schemas."""


def schema_fingerprint(schema: dict[str, Any] | str) -> bytes:
    """The 8-byte little-endian CRC-64-AVRO fingerprint of a schema's parsing canonical form."""
    return bytes.fromhex(_fastavro_fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO"))


def _varint(n: int) -> str:
    """Zig-zag varint of a long as latin-1 text (one char per byte), unrolled by 14-bit chunks.

    Raises:
        ValueError: ``n`` does not fit a 64-bit signed long.
    """
    n = (n << 1) ^ (n >> 63)
    if 0 <= n < 0x4000:
        return _SMALL[n]
    if 0 < n < 1 << 28:
        return _CHUNK14[n & _M14] + _SMALL[n >> 14]
    if 0 < n < 1 << 42:  # epoch ms from 1970-01-02 to 2039-09-07
        return _CHUNK14[n & _M14] + _CHUNK14[n >> 14 & _M14] + _SMALL[n >> 28]
    if 0 < n < 1 << 56:
        return _CHUNK14[n & _M14] + _CHUNK14[n >> 14 & _M14] + _CHUNK14[n >> 28 & _M14] + _SMALL[n >> 42]
    if 0 < n < 1 << 64:
        return (
            _CHUNK14[n & _M14]
            + _CHUNK14[n >> 14 & _M14]
            + _CHUNK14[n >> 28 & _M14]
            + _CHUNK14[n >> 42 & _M14]
            + _SMALL[n >> 56]
        )
    raise ValueError(f"{n} does not fit an Avro long")


# Avro length prefix (zig-zag varint) of every byte length up to _MAX_FAST_LEN.
_LEN: tuple[str, ...] = _SMALL[0 : 2 * _MAX_FAST_LEN + 1 : 2]


def _as_latin1(text: str) -> str:
    """The UTF-8 bytes of ``text`` as latin-1 text (one char per byte); ASCII text is returned as is."""
    return text if text.isascii() else text.encode("utf-8").decode("latin-1")


def _strip_logical_types(schema: Any) -> Any:
    """A copy of a schema without ``logicalType`` (same binary form and fingerprint)."""
    if isinstance(schema, dict):
        return {k: _strip_logical_types(v) for k, v in schema.items() if k != "logicalType"}
    if isinstance(schema, list):
        return [_strip_logical_types(v) for v in schema]
    return schema


_LAYOUT = {c.name: c.avro for c in RECORD_COLUMNS}


def _check_layout(schema: dict[str, Any]) -> None:
    """Fail unless the schema's fields are exactly `LogRecord`'s, with the types the encoder writes."""
    names = [f["name"] for f in schema["fields"]]
    expected = [c.name for c in RECORD_COLUMNS]
    if names != expected:
        raise RuntimeError(f"content_action.avsc fields {names} do not match LogRecord {expected}")
    for field in schema["fields"]:
        ftype = field["type"]
        kind = ftype["type"] if isinstance(ftype, dict) else ftype
        if kind != _LAYOUT[field["name"]]:
            raise RuntimeError(f"content_action.avsc field {field['name']} has unexpected type {ftype!r}")


def _load_json(resource: Any) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(resource.read_text(encoding="utf-8"))
    return loaded


def _fast_encoder(
    prefix: str, type_index: dict[str, str], source_index: dict[str, str]
) -> Callable[[LogRecord], bytes]:
    """The encoder of the common case, specialized to `LogRecord`'s layout (checked by `_check_layout`).

    It handles text of at most 4,096 UTF-8 bytes per field and in-range numbers, and
    raises on anything else (the caller then takes the careful path). The message is
    built as latin-1 text, one char per byte, and encoded once.

    Args:
        prefix: the single-object header (marker and fingerprint) as latin-1 text.
        type_index: ActionType symbol -> its varint index, as latin-1 text.
        source_index: Source symbol -> its varint index, as latin-1 text.
    """
    L = _LEN
    varint = _varint
    as_latin1 = _as_latin1

    def encode_fast(r: LogRecord) -> bytes:
        ev, li, em, pi, pn = r.event_id, r.learner_id, r.email, r.panorama_id, r.panorama_name
        ci, ct, cti, cg, ai, ae, kt = (
            r.content_id,
            r.content_type,
            r.content_title,
            r.course_group_id,
            r.actor_id,
            r.actor_email,
            r.kafka_topic,
        )
        if not "".join((ev, li, em, pi, pn, ci, ct, cti, cg, ai, ae, kt)).isascii():
            ev, li, em, pi, pn, ci, ct, cti, cg, ai, ae, kt = map(
                as_latin1, (ev, li, em, pi, pn, ci, ct, cti, cg, ai, ae, kt)
            )
        part = r.kafka_partition
        if not _INT_MIN <= part <= _INT_MAX:
            raise ValueError("kafka_partition does not fit an Avro int")
        # varint raises TypeError for a non-int (float, str...) and ValueError beyond 64 bits;
        # L[...] raises IndexError beyond 4,096 bytes; the indexes KeyError for a foreign symbol.
        return (
            f"{prefix}{L[len(ev)]}{ev}{varint(r.occurred_at)}{type_index[r.action_type]}"
            f"{source_index[r.source]}{L[len(li)]}{li}{L[len(em)]}{em}{L[len(pi)]}{pi}{L[len(pn)]}{pn}"
            f"{L[len(ci)]}{ci}{L[len(ct)]}{ct}{L[len(cti)]}{cti}{L[len(cg)]}{cg}{L[len(ai)]}{ai}"
            f"{L[len(ae)]}{ae}{L[len(kt)]}{kt}{varint(part)}{varint(r.kafka_offset)}"
        ).encode("latin-1")

    return encode_fast


class AvroCodec:
    """Encoder/decoder of the event log's messages, built from the ``schemas`` package.

    Attributes:
        schema: the current schema (``content_action.avsc``) as JSON data.
    """

    def __init__(self, extra_writer_schemas: Iterable[dict[str, Any]] = ()) -> None:
        """Load the schemas.

        Args:
            extra_writer_schemas: more writer schemas `decode` should accept besides
                ``schemas/history`` (for example a newer version a producer already uses).
        """
        root = files("schemas")
        self.schema: dict[str, Any] = _load_json(root.joinpath("content_action.avsc"))
        _check_layout(self.schema)
        self._fingerprint = schema_fingerprint(self.schema)
        self._prefix = (MAGIC + self._fingerprint).decode("latin-1")
        self._reader = parse_schema(_strip_logical_types(copy.deepcopy(self.schema)))
        # fingerprint -> parsed writer schema (None: the current one, no resolution needed).
        self._writers: dict[bytes, Any] = {self._fingerprint: None}
        history = root.joinpath("history")
        if history.is_dir():
            for entry in sorted(history.iterdir(), key=lambda e: e.name):
                if entry.name.endswith(".avsc"):
                    old = _load_json(entry)
                    fp = schema_fingerprint(old)
                    if fp != self._fingerprint:
                        self._writers[fp] = parse_schema(_strip_logical_types(old))
        for extra in extra_writer_schemas:
            fp = schema_fingerprint(extra)
            if fp != self._fingerprint:
                self._writers[fp] = parse_schema(_strip_logical_types(extra))
        by_name = {f["name"]: f["type"] for f in self.schema["fields"]}
        self._type_index = {s: _varint(i) for i, s in enumerate(by_name["action_type"]["symbols"])}
        self._source_index = {s: _varint(i) for i, s in enumerate(by_name["source"]["symbols"])}
        self._encode_fast = _fast_encoder(self._prefix, self._type_index, self._source_index)
        # (name, kind, enum symbols) of each field, for _decode_current.
        self._fields: tuple[tuple[str, str, tuple[str, ...]], ...] = tuple(
            (
                f["name"],
                _LAYOUT.get(f["name"], "string"),
                tuple(f["type"]["symbols"]) if _LAYOUT.get(f["name"]) == "enum" else (),
            )
            for f in self.schema["fields"]
        )

    @property
    def fingerprint(self) -> bytes:
        """CRC-64-AVRO fingerprint (8 bytes, little endian) of the current schema."""
        return self._fingerprint

    @property
    def writer_fingerprints(self) -> tuple[bytes, ...]:
        """Fingerprints of every schema `decode` accepts, the current one first."""
        return tuple(self._writers)

    def encode(self, record: LogRecord) -> bytes:
        """Single-object encode a record with the current schema.

        Raises:
            ValueError: a value does not fit the schema (unknown enum symbol, number out of range).
            TypeError: a field holds a value of the wrong Python type.
        """
        try:
            return self._encode_fast(record)
        except Exception:
            # Unusual input (non-ASCII text, over-long or mistyped values): the careful path.
            return self._encode_checked(record)

    def _encode_checked(self, r: LogRecord) -> bytes:
        """The general path: any text, every value checked, clear errors."""
        out = bytearray(MAGIC + self._fingerprint)
        for field in self.schema["fields"]:
            name = field["name"]
            value = getattr(r, name)
            kind = _LAYOUT.get(name, "string")
            if kind == "string":
                if not isinstance(value, str):
                    raise TypeError(f"{name} must be str, not {type(value).__name__}")
                data = value.encode("utf-8")
                out += _varint(len(data)).encode("latin-1")
                out += data
            elif kind == "enum":
                index = (self._type_index if name == "action_type" else self._source_index).get(value)
                if index is None:
                    raise ValueError(f"{name} {value!r} is not a symbol of the schema's enum")
                out += index.encode("latin-1")
            else:
                if type(value) is not int:
                    raise TypeError(f"{name} must be int, not {type(value).__name__}")
                lo, hi = (_INT_MIN, _INT_MAX) if kind == "int" else (_LONG_MIN, _LONG_MAX)
                if not lo <= value <= hi:
                    raise ValueError(f"{name} {value} does not fit an Avro {kind}")
                out += _varint(value).encode("latin-1")
        return bytes(out)

    def decode(self, data: bytes | bytearray | memoryview) -> dict[str, Any]:
        """Decode one single-object encoded message to a dict of the current schema.

        Records written with an older schema from ``schemas/history`` are resolved to
        the current one (new fields take their defaults, unknown enum symbols become
        the enum's default).

        Raises:
            BadFraming: no ``C3 01`` marker, too short, or a body that does not decode exactly.
            UnknownSchema: the fingerprint is not one of `writer_fingerprints`.
        """
        if len(data) < _HEADER_LEN or data[:2] != MAGIC:
            raise BadFraming("not an Avro single-object encoded message (no C3 01 marker)")
        fp = bytes(data[2:_HEADER_LEN])
        if fp not in self._writers:
            raise UnknownSchema(f"no known writer schema has fingerprint {fp.hex()}")
        writer = self._writers[fp]
        if writer is None:
            return self._decode_current(bytes(data))
        buf = io.BytesIO(data[_HEADER_LEN:])
        try:
            decoded = schemaless_reader(buf, writer, self._reader)
        except Exception as exc:
            raise BadFraming(f"Avro body does not decode: {type(exc).__name__}: {exc}") from exc
        if buf.tell() != len(data) - _HEADER_LEN:
            raise BadFraming("trailing bytes after the Avro record")
        if not isinstance(decoded, dict):
            raise BadFraming("Avro body is not a record")
        return decoded

    def _decode_current(self, data: bytes) -> dict[str, Any]:
        """Decode a body written with the current schema (no resolution), without fastavro.

        fastavro's ``schemaless_reader`` (14 µs per record on the reference machine) is
        about twice as slow. Tests check this against fastavro.
        """
        out: dict[str, Any] = {}
        pos = _HEADER_LEN
        size = len(data)
        try:
            for name, kind, symbols in self._fields:
                b = data[pos]
                pos += 1
                if b < 0x80:
                    n = (b >> 1) ^ -(b & 1)
                else:
                    n = b & 0x7F
                    shift = 7
                    while b & 0x80:
                        if shift >= 7 * _MAX_VARINT_BYTES:
                            raise BadFraming(f"{name}: a varint longer than {_MAX_VARINT_BYTES} bytes")
                        b = data[pos]
                        pos += 1
                        n |= (b & 0x7F) << shift
                        shift += 7
                    n = (n >> 1) ^ -(n & 1)
                if kind == "string":
                    end = pos + n
                    if n < 0 or end > size:
                        raise BadFraming(f"{name}: string runs past the end of the message")
                    out[name] = data[pos:end].decode()
                    pos = end
                elif kind == "enum":
                    if not 0 <= n < len(symbols):
                        raise BadFraming(f"{name}: no enum symbol {n}")
                    out[name] = symbols[n]
                elif (kind == "int" and not _INT_MIN <= n <= _INT_MAX) or not _LONG_MIN <= n <= _LONG_MAX:
                    raise BadFraming(f"{name}: {n} does not fit an Avro {kind}")
                else:
                    out[name] = n
        except IndexError:
            raise BadFraming("Avro body is truncated") from None
        except UnicodeDecodeError as exc:
            raise BadFraming(f"Avro body holds invalid UTF-8: {exc}") from None
        if pos != size:
            raise BadFraming("trailing bytes after the Avro record")
        return out

    def decode_record(self, data: bytes | bytearray | memoryview) -> LogRecord:
        """`decode` into a `LogRecord`."""
        return LogRecord(**self.decode(data))

    @property
    def schema_json(self) -> bytes:
        """The current schema as JSON bytes (for the header of a container block)."""
        return json.dumps(self.schema).encode()


def _read_long(data: bytes, pos: int) -> tuple[int, int]:
    """The zig-zag varint at ``pos`` and the position after it.

    Raises:
        IndexError: the data ends inside it.
        ValueError: it is longer than a long's 10 bytes.
    """
    n = shift = 0
    while True:
        b = data[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            return (n >> 1) ^ -(n & 1), pos
        shift += 7
        if shift >= 7 * _MAX_VARINT_BYTES:
            raise ValueError("a varint longer than 10 bytes")


def occurred_at_of(body: bytes) -> int | None:
    """``occurred_at`` (epoch ms) of a binary record of the current schema, read without decoding
    the rest (the schema's first two fields are ``event_id`` and ``occurred_at``, as `AvroCodec`
    checks); None when the body is too damaged to tell."""
    try:
        length, pos = _read_long(body, 0)
        if length < 0 or pos + length > len(body):
            return None
        return _read_long(body, pos + length)[0]
    except (IndexError, ValueError):
        return None


def learner_of(body: bytes) -> tuple[str, str] | None:
    """(``learner_id``, ``email``) of a binary record of the current schema, read without decoding
    the rest (fields 5 and 6, after ``event_id``, ``occurred_at`` and two enums: the layout
    `AvroCodec` checks); None when the body is too damaged to tell."""
    try:
        length, pos = _read_long(body, 0)  # event_id
        pos += length
        for _ in range(3):  # occurred_at, action_type, source
            _, pos = _read_long(body, pos)
        out = []
        for _ in range(2):  # learner_id, email
            length, pos = _read_long(body, pos)
            if length < 0 or pos + length > len(body):
                return None
            out.append(body[pos : pos + length].decode())
            pos += length
    except (IndexError, ValueError):
        return None
    return out[0], out[1]


def _bytes(data: bytes) -> bytes:
    return _varint(len(data)).encode("latin-1") + data


def container(bodies: Sequence[bytes], schema: bytes) -> bytes:
    """An Avro object container file (Avro spec): header, one data block of ``bodies``, no codec.

    Args:
        bodies: binary records (no single-object header), all written with ``schema``.
        schema: the writer schema as JSON bytes.
    """
    meta = (
        _varint(2).encode("latin-1")
        + _bytes(b"avro.schema")
        + _bytes(schema)
        + _bytes(b"avro.codec")
        + _bytes(b"null")
        + _varint(0).encode("latin-1")
    )
    sync = os.urandom(16)
    data = b"".join(bodies)
    count = _varint(len(bodies)).encode("latin-1")
    return b"Obj\x01" + meta + sync + count + _varint(len(data)).encode("latin-1") + data + sync
