"""Spreadsheet exports read one row at a time: CSV and XLSX, as a test vendor's admin panel writes them.

- CSV: UTF-8 with or without a byte-order mark; the delimiter (comma, semicolon or tab) is sniffed from
  the header line. Read line by line from a byte stream, so memory stays flat whatever the file size, and
  every row knows the byte offset where it ends: a later segment of the import resumes there (a ranged GET)
  instead of reading the file again from the top.
- XLSX: the first worksheet, read as a stream of XML rows with openpyxl's own cell conversion (numbers,
  dates, booleans, inline and shared strings as its read-only mode gives them). Excel keeps cell text in a
  shared-strings table, which openpyxl's read-only mode loads whole into memory; here it goes to a temporary
  file with an index of offsets, so memory stays flat too. Rows before a segment's offset are skipped
  without converting their cells. openpyxl is imported only when an XLSX file is read: it is a dependency
  of the import function alone.
- Duplicates: `SeenIds` remembers the test IDs met so far in a file in an SQLite file on local disk
  (`/tmp` in Lambda), with a small, fixed page cache.

Header names are matched tolerantly: case, spaces, underscores, hyphens and dots are ignored, so `Test ID`,
`test_id`, `TestID` and `test-id` all name the test ID. Row numbers are the ones a spreadsheet program
shows (the header is a row too).

Pure code: nothing here talks to AWS; callers hand in binary streams.
"""

from __future__ import annotations

import codecs
import csv
import os
import re
import sqlite3
import struct
import tempfile
from array import array
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import lru_cache
from hashlib import blake2b
from typing import IO, Any

FIELDS = ("test-id", "password", "test-type", "status", "assigned-to")
REQUIRED = ("test-id", "password", "test-type")
# Normalised header text -> field. Normalising drops case, spaces, underscores, hyphens and dots.
_HEADERS = {
    "testid": "test-id",
    "testnumber": "test-id",
    "testno": "test-id",
    "password": "password",
    "testpassword": "password",
    "pwd": "password",
    "testtype": "test-type",
    "type": "test-type",
    "producttype": "test-type",
    "status": "status",
    "teststatus": "status",
    "assignedto": "assigned-to",
    "assigned": "assigned-to",
}
_SEPARATORS = re.compile(r"[\s_\-.\ufeff\u200b]+")
HEAD_BYTES = 64 * 1024
MAX_FIELD = 128 * 1024  # one cell; longer cells are refused (the file is broken)
XLSX_MAGIC = b"PK\x03\x04"
XLS_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
DELIMITERS = (",", ";", "\t")


class FileRejected(Exception):
    """The file cannot be imported at all (not CSV/XLSX, empty, no usable header); the reason says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Format:
    kind: str  # "csv" | "xlsx"
    delimiter: str = ","

    @property
    def label(self) -> str:
        if self.kind == "xlsx":
            return "XLSX"
        names = {",": "comma", ";": "semicolon", "\t": "tab"}
        return f"CSV ({names.get(self.delimiter, repr(self.delimiter))}-separated)"


@dataclass(frozen=True)
class Row:
    number: int  # as a spreadsheet program numbers it; the header is a row too
    values: dict[str, str]  # field -> cell text, stripped ("" when empty or missing)
    end: int = field(default=0, compare=False)  # CSV: the byte offset just past the row (where to resume)


def normalise_header(text: str) -> str:
    return _SEPARATORS.sub("", text).strip("\"'").casefold()


def map_header(cells: list[str]) -> dict[str, int]:
    """Field -> column index of a header row; FileRejected naming what is missing or repeated."""
    columns: dict[str, int] = {}
    for index, cell in enumerate(cells):
        field = _HEADERS.get(normalise_header(cell))
        if field is None:
            continue
        if field in columns:
            raise FileRejected(
                f"header: two columns name the {field} "
                f"('{cells[columns[field]].strip()}' and '{cell.strip()}')"
            )
        columns[field] = index
    missing = [f for f in REQUIRED if f not in columns]
    if missing:
        found = ", ".join(f"'{c.strip()}'" for c in cells if c.strip())[:300] or "none"
        raise FileRejected(
            f"header: required column(s) missing: {', '.join(missing)} (the first row has: {found}); "
            "expected columns like 'Test ID', 'Password', 'Test Type', optional 'Status', 'Assigned To'"
        )
    return columns


def sniff(head: bytes, size: int) -> Format:
    """The format of a file from its first bytes (up to HEAD_BYTES) and its size."""
    if size == 0 or (len(head) >= size and not head.strip(b" \t\r\n\xef\xbb\xbf")):
        raise FileRejected("file: the file is empty")
    if head.startswith(XLSX_MAGIC):
        return Format("xlsx")
    if head.startswith(XLS_MAGIC):
        raise FileRejected(
            "file: this is a legacy Excel .xls workbook, which is not supported; "
            "save it as XLSX or CSV (UTF-8)"
        )
    if b"\x00" in head:
        raise FileRejected("file: not a CSV or XLSX file (binary content)")
    text = _decode_head(head, complete=len(head) >= size)
    line = _header_line(text)
    if line is None:
        raise FileRejected("file: the file has no header row")
    counts = {d: _count_outside_quotes(line, d) for d in DELIMITERS}
    delimiter = max(DELIMITERS, key=lambda d: counts[d])
    if counts[delimiter] == 0:
        delimiter = ","  # one column only: the header check says what is missing
    return Format("csv", delimiter)


def _decode_head(head: bytes, complete: bool) -> str:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    try:
        text = decoder.decode(head, final=complete)  # a character cut at the end of the head is fine
    except UnicodeDecodeError as exc:
        raise FileRejected(
            "file: not a CSV or XLSX file, or a CSV that is not UTF-8 text (export it as CSV UTF-8)"
        ) from exc
    return text.removeprefix("\ufeff")


def _header_line(text: str) -> str | None:
    for line in text.splitlines():
        if line.strip(" \t,;"):
            return line
    return None


def _count_outside_quotes(line: str, delimiter: str) -> int:
    count, quoted = 0, False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif char == delimiter and not quoted:
            count += 1
    return count


# ------------------------------------------------------------------------------------------------- CSV
READ_BLOCK = 64 * 1024
MAX_LINE = 1024 * 1024  # one physical line; a longer one (e.g. a file without line breaks) is refused
_BOM = b"\xef\xbb\xbf"


class _Lines:
    """The physical lines of a CSV byte stream, as text for the csv module: split where a text stream opened
    with newline="" splits them (after "\n", "\r\n" or a lone "\r"), decoded as UTF-8 (bytes that are not
    become U+FFFD). `position` is the byte offset in the file just past the last line handed out; the csv
    reader never reads ahead, so after it returns a record that is where the record ends."""

    def __init__(self, stream: IO[bytes], position: int) -> None:
        self._stream = stream
        self.position = position
        self._lines: deque[bytes] = deque()
        self._tail = b""
        self._ended = False

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        while not self._lines:
            if self._ended:
                raise StopIteration
            self._fill()
        line = self._lines.popleft()
        if len(line) > MAX_LINE:
            raise csv.Error(f"a line longer than {MAX_LINE} bytes")
        if self.position == 0 and line.startswith(_BOM):
            self.position += len(_BOM)
            line = line[len(_BOM) :]
        self.position += len(line)
        return line.decode("utf-8", "replace")

    def _fill(self) -> None:
        block = self._stream.read(READ_BLOCK)
        if not block:
            self._ended = True
            if self._tail:
                self._lines.append(self._tail)
                self._tail = b""
            return
        lines = (self._tail + block).splitlines(keepends=True)
        # The last piece may be cut (no line end yet), or a "\r" whose "\n" is in the next block.
        self._tail = b"" if lines[-1].endswith(b"\n") else lines.pop()
        if not lines and len(self._tail) > MAX_LINE:  # do not gather more of a line already too long
            raise csv.Error(f"a line longer than {MAX_LINE} bytes")
        self._lines.extend(lines)


def csv_rows(stream: IO[bytes], delimiter: str) -> tuple[dict[str, int], Iterator[Row]]:
    """The header mapping and the data rows of a CSV stream. Text that is not UTF-8 becomes U+FFFD (the
    row is then refused by the caller); a broken file (e.g. a cell over MAX_FIELD) raises FileRejected
    when its row is reached."""
    records = _records(stream, delimiter, after=0, position=0)
    for _number, cells, _end in records:
        if any(c.strip() for c in cells):
            columns = map_header(cells)
            return columns, _rows(records, columns)
    raise FileRejected("file: the file has no header row")


def csv_rows_from(
    stream: IO[bytes], delimiter: str, columns: dict[str, int], after: int, position: int
) -> Iterator[Row]:
    """The data rows after row `after` of a CSV whose header mapping is `columns`, from a stream that starts
    at byte `position` of the file: the end of row `after` (its Row.end), where an earlier read stopped."""
    return _rows(_records(stream, delimiter, after, position), columns)


def _records(
    stream: IO[bytes], delimiter: str, after: int, position: int
) -> Iterator[tuple[int, list[str], int]]:
    """(row number, cells, byte offset of the row's end) of every record, blank ones included."""
    csv.field_size_limit(MAX_FIELD)
    lines = _Lines(stream, position)
    reader = csv.reader(lines, delimiter=delimiter, quotechar='"', doublequote=True, skipinitialspace=False)
    number = after
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise FileRejected(f"row {number + 1}: the CSV is malformed here ({exc})") from exc
        number += 1
        yield number, cells, lines.position


def _rows(records: Iterator[tuple[int, list[str], int]], columns: dict[str, int]) -> Iterator[Row]:
    for number, cells, end in records:
        if not any(c.strip() for c in cells):
            continue
        values = {f: cells[i].strip() if i < len(cells) else "" for f, i in columns.items()}
        yield Row(number, values, end)


# ------------------------------------------------------------------------------------------------ XLSX
class Workbook:
    """An open XLSX file: the workbook (openpyxl, read-only) and its shared strings on disk."""

    def __init__(self, book: Any, strings: SharedStrings) -> None:
        self.book = book
        self.strings = strings

    def close(self) -> None:
        try:
            if self.book is not None:
                self.book.close()
        finally:
            self.strings.close()


def xlsx_rows(fileobj: IO[bytes], after: int = 0) -> tuple[dict[str, int], Iterator[Row], Workbook]:
    """The header mapping, the data rows of the first worksheet after row `after` (the rows between the
    header and it are skipped without converting a cell), and the workbook (close it when done)."""
    try:
        from openpyxl.utils.exceptions import InvalidFileException
    except ImportError as exc:  # the API functions never read spreadsheets; only the import function has it
        raise RuntimeError("openpyxl is not installed in this function") from exc
    import zipfile

    workbook = Workbook(None, SharedStrings())
    try:
        try:
            reader = _excel_reader()(fileobj, workbook.strings)
            reader.read()
        except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
            raise FileRejected(f"file: a ZIP file but not a readable XLSX workbook ({exc})") from exc
        workbook.book = reader.wb
        if not workbook.book.worksheets:
            raise FileRejected("file: the workbook has no worksheet")
        sheet = SheetRows(workbook.book.worksheets[0], workbook.strings)
        records = iter(sheet)
        for _number, values in records:
            cells = [cell_text(v) for v in values]
            if any(cells):
                columns = map_header(cells)
                sheet.skip_to = after
                return columns, _xlsx_data(records, columns), workbook
        raise FileRejected("file: the first worksheet has no header row")
    except BaseException:
        workbook.close()
        raise


def _xlsx_data(records: Iterator[tuple[int, list[Any]]], columns: dict[str, int]) -> Iterator[Row]:
    for number, values in records:
        row = {f: cell_text(values[i]) if i < len(values) else "" for f, i in columns.items()}
        if any(row.values()) or any(v not in (None, "") for v in values):
            yield Row(number, row)


class SheetRows:
    """(row number, cell values from column A) of a read-only worksheet, the sheet's XML parsed as a stream.

    Cells are converted by openpyxl's own worksheet parser (what `iter_rows(values_only=True)` gives), but
    each parsed row is dropped from the XML tree at once (openpyxl's own loop keeps an emptied element per
    row), rows up to `skip_to` are passed over without converting their cells, and rows past the sheet's
    declared dimension are read too (openpyxl stops there; a workbook that states a wrong one would be cut).
    Rows without cells are not yielded: the numbers say where the gaps are."""

    def __init__(self, sheet: Any, strings: SharedStrings) -> None:
        self.sheet = sheet
        self.strings = strings
        self.skip_to = 0
        self.parsed = 0  # rows whose cells were converted
        self.skipped = 0  # rows passed over (up to skip_to)

    def __iter__(self) -> Iterator[tuple[int, list[Any]]]:
        from openpyxl.worksheet._reader import DATA_TAG, ROW_TAG, WorkSheetParser

        book = self.sheet.parent
        with self.sheet._get_source() as source:
            parser = WorkSheetParser(
                source,
                self.strings,
                data_only=book.data_only,
                epoch=book.epoch,
                date_formats=book._date_formats,
                timedelta_formats=book._timedelta_formats,
            )
            rows = None
            for event, element in _xml_events(source):
                if event == "start":
                    if element.tag == DATA_TAG:
                        rows = element
                    continue
                if element.tag != ROW_TAG:
                    continue
                if self._passed_over(element, parser):
                    self.skipped += 1
                else:
                    number, cells = parser.parse_row(element)
                    self.parsed += 1
                    if cells:
                        values: list[Any] = [None] * max(cell["column"] for cell in cells)
                        for cell in cells:
                            values[cell["column"] - 1] = cell["value"]
                        yield number, values
                element.clear()
                if rows is not None:
                    rows.clear()  # sheetData: its only child is the row just read

    def _passed_over(self, element: Any, parser: Any) -> bool:
        """Whether the row is at or before `skip_to` (numbered as openpyxl numbers it); then it counts."""
        if self.skip_to <= 0:
            return False
        number = element.get("r")
        if number is None:
            row = int(parser.row_counter) + 1
        elif number.isdigit():
            row = int(number)
        else:
            return False  # openpyxl's parser says what it makes of it
        if row > self.skip_to:
            return False
        parser.row_counter = row
        return True


def _xml_events(source: IO[bytes]) -> Iterator[tuple[str, Any]]:
    """Start and end events of an XML part of the workbook, from the standard library's C parser: what
    openpyxl parses with in the import function (its bundle has no defusedxml; with defusedxml installed
    openpyxl switches to the pure-Python parser, about twice as slow). Expat 2.4.1 and later refuse entity
    expansion bombs, and ElementTree never fetches external entities."""
    from xml.etree.ElementTree import iterparse

    return iterparse(source, events=("start", "end"))  # noqa: S314


class SharedStrings:
    """Excel's shared-strings table (xl/sharedStrings.xml) in two temporary files instead of a list in
    memory: the strings' UTF-8 bytes one after the other, and the offset where each one starts (8 bytes
    each). A string is two `pread`s away; the most used ones (test types, statuses) stay in a small cache.
    Indexed like the list openpyxl builds, with the same text (rich-text runs joined, phonetic runs left
    out, openpyxl's `x005F_` unescaping)."""

    CACHE = 4096

    def __init__(self) -> None:
        self._data = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        self._offsets = tempfile.TemporaryFile()  # noqa: SIM115
        self._count = 0
        self._get = lru_cache(maxsize=self.CACHE)(self._read)

    def load(self, source: IO[bytes]) -> None:
        from openpyxl.xml.constants import SHEET_MAIN_NS

        item, text_tag = f"{{{SHEET_MAIN_NS}}}si", f"{{{SHEET_MAIN_NS}}}t"
        offsets = array("Q")
        position = 0
        root = None
        for event, node in _xml_events(source):
            if event == "start":
                root = node if root is None else root
                continue
            if node.tag != item:
                continue
            if len(node) == 1 and node[0].tag == text_tag:
                text = node[0].text or ""  # the usual case: <si><t>text</t></si>
            else:
                from openpyxl.cell.text import Text

                text = Text.from_tree(node).content  # rich text, phonetic runs: as openpyxl reads them
            data = text.replace("x005F_", "").encode("utf-8", "surrogatepass")
            offsets.append(position)
            position += len(data)
            self._data.write(data)
            root.clear()  # type: ignore[union-attr] # <sst>: its only child is the string just read
            if len(offsets) >= 8192:
                self._count += len(offsets)
                self._offsets.write(offsets.tobytes())
                offsets = array("Q")
        self._count += len(offsets)
        offsets.append(position)  # where the last string ends
        self._offsets.write(offsets.tobytes())
        self._data.flush()
        self._offsets.flush()
        self._get.cache_clear()

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index: int) -> str:
        if not 0 <= index < self._count:
            raise IndexError(f"shared string {index} of {self._count}")
        return self._get(index)

    def _read(self, index: int) -> str:
        start, end = _OFFSETS.unpack(os.pread(self._offsets.fileno(), _OFFSETS.size, index * 8))
        return os.pread(self._data.fileno(), end - start, start).decode("utf-8", "surrogatepass")

    def close(self) -> None:
        self._get.cache_clear()
        self._data.close()
        self._offsets.close()


_OFFSETS = struct.Struct("=QQ")  # array("Q") writes native byte order


@lru_cache(maxsize=1)
def _excel_reader() -> Any:
    """openpyxl's workbook reader (read-only, cached values, no external links), with the shared strings
    read into a SharedStrings instead of a list."""
    from openpyxl.reader.excel import ExcelReader
    from openpyxl.worksheet._read_only import ReadOnlyWorksheet
    from openpyxl.xml.constants import SHARED_STRINGS

    class Sheet(ReadOnlyWorksheet):  # type: ignore[misc]
        def _get_size(self) -> None:
            """No dimension: rows are read to the end whatever the sheet declares (and openpyxl parses the
            whole sheet, keeping an element per row, to find one in a workbook that declares none)."""

    class Reader(ExcelReader):  # type: ignore[misc]
        def __init__(self, fileobj: IO[bytes], strings: SharedStrings) -> None:
            super().__init__(fileobj, read_only=True, keep_vba=False, data_only=True, keep_links=False)
            self.shared_strings = strings

        def read_strings(self) -> None:
            part = self.package.find(SHARED_STRINGS)
            if part is not None:
                with self.archive.open(part.PartName[1:]) as source:
                    self.shared_strings.load(source)

        def read_worksheets(self) -> None:
            """openpyxl's read-only branch, worksheets only (a chartsheet holds no rows)."""
            for sheet, rel in self.parser.find_sheets():
                if rel.target in self.valid_files and "chartsheet" not in rel.Type:
                    worksheet = Sheet(self.wb, sheet.name, rel.target, self.shared_strings)
                    worksheet.sheet_state = sheet.state
                    self.wb._sheets.append(worksheet)

    return Reader


def cell_text(value: Any) -> str:
    """A spreadsheet cell as the text a CSV export would hold (a whole number without '.0')."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (date, time)):
        return value.isoformat()
    return str(value).strip()


# ------------------------------------------------------------------------------------------ duplicates
class SeenIds:
    """The test IDs met so far in a file, with the row each was first seen on, in an SQLite file.

    Keyed by a 64-bit digest (BLAKE2b of the case-folded ID): about 20 bytes a row on disk (20 MB per
    million distinct IDs) and a page cache capped at CACHE_KIB in memory, whatever the file size. Two
    different IDs share a digest with probability ~n^2/2^65 (1e-8 at a million). The file is the state an
    import carries from one segment to the next (`save`, then copy it).

    Rows are replayed safely: a segment redone after a crash meets the rows its first run already recorded,
    so an ID recorded on the same row (or, from a run that read further, on a later one) is not a duplicate.
    """

    CACHE_KIB = 2048

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        for pragma in (
            "journal_mode = OFF",  # a scratch file: a crash loses nothing the carried copy does not hold
            "synchronous = OFF",
            "locking_mode = EXCLUSIVE",
            "temp_store = FILE",
            f"cache_size = -{self.CACHE_KIB}",
        ):
            self._db.execute(f"PRAGMA {pragma}")
        self._db.execute("CREATE TABLE IF NOT EXISTS seen (digest INTEGER PRIMARY KEY, row INTEGER NOT NULL)")
        self._db.execute("BEGIN")

    def __len__(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM seen").fetchone()[0])

    @staticmethod
    def digest(test_id: str) -> int:
        return int.from_bytes(
            blake2b(test_id.casefold().encode(), digest_size=8).digest(), "big", signed=True
        )

    def first_row(self, test_id: str) -> int | None:
        """The row `test_id` was first seen on, or None."""
        found = self._db.execute("SELECT row FROM seen WHERE digest = ?", (self.digest(test_id),)).fetchone()
        return None if found is None else int(found[0])

    def add(self, test_id: str, row: int) -> int | None:
        """Remember `test_id` on `row`; returns the earlier row it was first seen on, if any (kept)."""
        digest = self.digest(test_id)
        if self._db.execute(_INSERT, (digest, row)).rowcount == 1:
            return None
        first = int(self._db.execute("SELECT row FROM seen WHERE digest = ?", (digest,)).fetchone()[0])
        if first < row:
            return first
        if first > row:
            self._db.execute("UPDATE seen SET row = ? WHERE digest = ?", (row, digest))
        return None

    def save(self) -> None:
        """Write everything to the file (before it is copied)."""
        self._db.execute("COMMIT")
        self._db.execute("BEGIN")

    def close(self) -> None:
        self._db.close()


_INSERT = "INSERT OR IGNORE INTO seen (digest, row) VALUES (?, ?)"  # any SQLite 3 (no UPSERT needed)
