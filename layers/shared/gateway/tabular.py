"""Spreadsheet exports read one row at a time: CSV and XLSX, as a test vendor's admin panel writes them.

- CSV: UTF-8 with or without a byte-order mark; the delimiter (comma, semicolon or tab) is sniffed from
  the header line. Read through a text stream, so memory stays flat whatever the file size.
- XLSX: the first worksheet, through openpyxl's read-only mode (the sheet's XML is parsed as a stream).
  openpyxl is imported only when an XLSX file is read: it is a dependency of the import function alone.

Header names are matched tolerantly: case, spaces, underscores, hyphens and dots are ignored, so `Test ID`,
`test_id`, `TestID` and `test-id` all name the test ID. Row numbers are the ones a spreadsheet program
shows (the header is a row too).

Pure code: nothing here talks to AWS; callers hand in binary streams.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
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
def csv_rows(stream: IO[bytes], delimiter: str) -> tuple[dict[str, int], Iterator[Row]]:
    """The header mapping and the data rows of a CSV stream. Text that is not UTF-8 becomes U+FFFD (the
    row is then refused by the caller); a broken file (e.g. a cell over MAX_FIELD) raises FileRejected
    when its row is reached."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="")  # type: ignore[type-var]
    csv.field_size_limit(MAX_FIELD)
    reader = csv.reader(text, delimiter=delimiter, quotechar='"', doublequote=True, skipinitialspace=False)
    records = _numbered(reader)
    for _number, cells in records:
        if any(c.strip() for c in cells):
            columns = map_header(cells)
            return columns, _rows(records, columns)
    raise FileRejected("file: the file has no header row")


def _numbered(reader: Iterator[list[str]]) -> Iterator[tuple[int, list[str]]]:
    number = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise FileRejected(f"row {number + 1}: the CSV is malformed here ({exc})") from exc
        number += 1
        yield number, cells


def _rows(records: Iterator[tuple[int, list[str]]], columns: dict[str, int]) -> Iterator[Row]:
    for number, cells in records:
        if not any(c.strip() for c in cells):
            continue
        yield Row(number, {f: cells[i].strip() if i < len(cells) else "" for f, i in columns.items()})


# ------------------------------------------------------------------------------------------------ XLSX
def xlsx_rows(fileobj: IO[bytes]) -> tuple[dict[str, int], Iterator[Row], Any]:
    """The header mapping, the data rows of the first worksheet, and the workbook (close it when done)."""
    try:
        from openpyxl import load_workbook
        from openpyxl.utils.exceptions import InvalidFileException
    except ImportError as exc:  # the API functions never read spreadsheets; only the import function has it
        raise RuntimeError("openpyxl is not installed in this function") from exc
    import zipfile

    try:
        workbook = load_workbook(fileobj, read_only=True, data_only=True, keep_links=False)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise FileRejected(f"file: a ZIP file but not a readable XLSX workbook ({exc})") from exc
    try:
        if not workbook.worksheets:
            raise FileRejected("file: the workbook has no worksheet")
        sheet = workbook.worksheets[0]
        records = enumerate(sheet.iter_rows(values_only=True), start=1)
        for _number, values in records:
            cells = [cell_text(v) for v in values]
            if any(cells):
                columns = map_header(cells)
                return columns, _xlsx_data(records, columns), workbook
        raise FileRejected("file: the first worksheet has no header row")
    except BaseException:
        workbook.close()
        raise


def _xlsx_data(records: Iterator[tuple[int, tuple[Any, ...]]], columns: dict[str, int]) -> Iterator[Row]:
    for number, values in records:
        row = {f: cell_text(values[i]) if i < len(values) else "" for f, i in columns.items()}
        if any(row.values()) or any(v not in (None, "") for v in values):
            yield Row(number, row)


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
    """The test IDs met so far in a file, with the row each was first seen on, in flat memory.

    An open-addressing table of 64-bit digests (BLAKE2b of the case-folded ID) and row numbers in two
    arrays: about 24 bytes per ID, against over 100 for a Python set of strings, so a million rows fit
    in about 24 MB. Two different IDs share a digest with probability ~n^2/2^65 (1e-8 at a million).
    """

    def __init__(self, capacity: int = 1 << 12) -> None:
        self._size = 0
        self._digests = array("Q", bytes(8 * capacity))
        self._rows = array("I", bytes(4 * capacity))

    def __len__(self) -> int:
        return self._size

    @staticmethod
    def digest(test_id: str) -> int:
        value = int.from_bytes(blake2b(test_id.casefold().encode(), digest_size=8).digest(), "big")
        return value or 1  # 0 marks an empty slot

    def first_row(self, test_id: str) -> int | None:
        """The row `test_id` was first seen on, or None."""
        digest = self.digest(test_id)
        mask = len(self._digests) - 1
        slot = digest & mask
        while True:
            found = self._digests[slot]
            if found == 0:
                return None
            if found == digest:
                return int(self._rows[slot])
            slot = (slot + 1) & mask

    def add(self, test_id: str, row: int) -> int | None:
        """Remember `test_id` on `row`; returns the earlier row when it was seen before (kept as it was)."""
        digest = self.digest(test_id)
        mask = len(self._digests) - 1
        slot = digest & mask
        while True:
            found = self._digests[slot]
            if found == 0:
                break
            if found == digest:
                return int(self._rows[slot])
            slot = (slot + 1) & mask
        self._digests[slot] = digest
        self._rows[slot] = row
        self._size += 1
        if self._size * 2 > len(self._digests):
            self._grow()
        return None

    def _grow(self) -> None:
        old_digests, old_rows = self._digests, self._rows
        capacity = len(old_digests) * 2
        self._digests = array("Q", bytes(8 * capacity))
        self._rows = array("I", bytes(4 * capacity))
        mask = capacity - 1
        for digest, row in zip(old_digests, old_rows, strict=True):
            if digest:
                slot = digest & mask
                while self._digests[slot]:
                    slot = (slot + 1) & mask
                self._digests[slot] = digest
                self._rows[slot] = row
