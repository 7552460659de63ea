"""CSV both ways for the Bulk API 2.0 path: result sets in, write sets out.

Result sets are read as they stream in (:func:`text_lines`) into compact records
(:class:`RowValues`): one shared column index per set and a tuple of values per record, with
repeated values (picklists, numbers, booleans) shared through a per-column memo, so a page
costs about a quarter of the memory the same records take as dicts. Values take the REST
API's forms, so a record reads the same whichever API fetched it: numbers as floats,
checkboxes as booleans, dateTimes ending in ``+0000``, and an empty field as None (Bulk CSV
cannot tell an empty text from null, and Salesforce stores empty text as null anyway).

Write sets become one CSV per job: ``Id`` first, then every field any write sets, in sorted
order; a field a record does not set is left empty (Bulk leaves it unchanged) and None is
written as ``#N/A`` (Bulk clears the field).
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from connector.records import FieldCatalog, Record, RecordWrite, parse_stamp, wire_text

MAX_UPLOAD_BYTES = 90 * 1024 * 1024
"""Raw CSV per ingest job: Salesforce takes 150 MB once base64-encoded (about 100 MB raw);
the margin keeps a multi-byte-heavy upload clear of it."""
NULL = "#N/A"


class RowValues(Mapping):
    """One record's values over a column index shared by its result set (read-only)."""

    __slots__ = ("_index", "_values")

    def __init__(self, index: Mapping[str, int], values: tuple) -> None:
        self._index, self._values = index, values

    def __getitem__(self, key: str) -> Any:
        return self._values[self._index[key]]

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)


def _converter(kind: str | None):
    """A memoised text -> REST-form function for one column of kind ``kind``."""
    memo: dict[str, Any] = {"": None}

    def number(text: str) -> Any:
        try:
            return float(text)
        except ValueError:
            return text

    def stamp(text: str) -> str:
        return text[:-1] + "+0000" if text.endswith("Z") else text

    convert = {"number": number, "boolean": lambda t: t.lower() == "true",
               "datetime": stamp}.get(kind or "", lambda t: t)

    def cell(text: str) -> Any:
        found = memo.get(text, memo)
        if found is memo:
            found = convert(text)
            if len(memo) < 50_000:  # free text is mostly unique: stop remembering it
                memo[text] = found
        return found
    return cell


def text_lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """UTF-8 ``chunks`` of a streamed CSV body as lines that keep their line ending (what
    :func:`csv.reader` expects of a file opened with ``newline=""``), NUL bytes dropped as the
    SDK does. Lines split at ``\\n`` only: a quoted value's own line breaks are rejoined by the
    reader, and other Unicode line separators are data."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    rest = ""
    for chunk in chunks:
        text = rest + decoder.decode(chunk.replace(b"\x00", b""))
        lines = text.split("\n")
        rest = lines.pop()
        for line in lines:
            yield line + "\n"
    rest += decoder.decode(b"", final=True)
    if rest:
        yield rest


def read_records(lines: Iterable[str], fields: Sequence[str], stamp_field: str,
                 catalog: FieldCatalog) -> Iterator[Record]:
    """The records of one CSV result set (lines with their endings, header row first)."""
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        return
    position = {name: i for i, name in enumerate(header)}
    columns = [position[name] for name in fields]
    index = {name: i for i, name in enumerate(fields)}
    cells = [_converter(catalog.get(name).kind if catalog.get(name) else None)
             for name in fields]
    id_at, stamp_at = position["Id"], position[stamp_field]
    for row in reader:
        if not row:
            continue
        values = tuple(cell(row[at]) for cell, at in zip(cells, columns, strict=True))
        yield Record(row[id_at], RowValues(index, values), parse_stamp(row[stamp_at]))


def write_sets(writes: Sequence[RecordWrite], limit: int = MAX_UPLOAD_BYTES
               ) -> Iterator[tuple[list[RecordWrite], str]]:
    """``(writes, CSV text)`` per upload, each at most ``limit`` bytes of rows."""
    names = sorted({name for write in writes for name in write.values})
    header = _line(["Id", *names])
    out, size, chunk = [header], 0, []
    for write in writes:
        text = _line([write.record_id, *(
            wire_text(write.values[n], null=NULL) if n in write.values else "" for n in names)])
        if chunk and size + len(text.encode()) > limit:
            yield chunk, "".join(out)
            out, size, chunk = [header], 0, []
        out.append(text)
        size += len(text.encode())
        chunk.append(write)
    if chunk:
        yield chunk, "".join(out)


def _line(cells: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(cells)
    return buffer.getvalue()


def read_rows(text: str) -> list[dict[str, str]]:
    """An ingest result CSV (successful, failed or unprocessed records) as dicts."""
    return list(csv.DictReader(io.StringIO(text, newline="")))
