"""Reading spreadsheet exports: format sniffing, tolerant headers, CSV dialects, XLSX, duplicates."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gateway import imports, tabular
from gateway.errors import InvalidInput
from gateway.tabular import FileRejected, Row
from tests.helpers import xlsx_package


def read_csv(data: bytes) -> list[Row]:
    fmt = tabular.sniff(data[: tabular.HEAD_BYTES], len(data))
    assert fmt.kind == "csv"
    _columns, rows = tabular.csv_rows(io.BytesIO(data), fmt.delimiter)
    return list(rows)


def xlsx(rows: list[list[object]], header: list[str] | None = None) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(header or ["Test ID", "Password", "Test Type"])
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


@pytest.mark.parametrize(
    "header", ["Test ID", "test_id", "TestID", "test-id", " TEST  ID ", "Test.Id", "Test Number"]
)
def test_header_names_are_matched_tolerantly(header):
    assert tabular.map_header([header, "Password", "Test Type"]) == {
        "test-id": 0,
        "password": 1,
        "test-type": 2,
    }


def test_optional_columns_and_unknown_ones():
    columns = tabular.map_header(["Notes", "Test ID", "Password", "Type", "Status", "Assigned-To"])
    assert columns == {"test-id": 1, "password": 2, "test-type": 3, "status": 4, "assigned-to": 5}


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        (["Test ID", "Password"], "header: required column(s) missing: test-type"),
        (
            ["Test ID", "TestID", "Password", "Type"],
            "header: two columns name the test-id ('Test ID' and 'TestID')",
        ),
        (
            ["a", "b"],
            "header: required column(s) missing: test-id, password, test-type (the first row has: 'a', 'b')",
        ),
    ],
)
def test_a_header_without_the_required_columns_is_refused(cells, message):
    with pytest.raises(FileRejected) as refused:
        tabular.map_header(cells)
    assert refused.value.reason.startswith(message)


@pytest.mark.parametrize(
    ("data", "delimiter"),
    [
        (b"Test ID,Password,Test Type\r\nT1,p,A\r\n", ","),
        (b"\xef\xbb\xbfTest ID;Password;Test Type\nT1;p;A\n", ";"),
        (b"Test ID\tPassword\tTest Type\nT1\tp\tA\n", "\t"),
        (b'"Test ID, the id";Password;Test Type\n', ";"),  # a comma inside quotes does not count
    ],
)
def test_the_delimiter_is_sniffed_from_the_header(data, delimiter):
    assert tabular.sniff(data, len(data)) == tabular.Format("csv", delimiter)


def test_csv_rows_with_bom_quotes_embedded_newlines_and_blank_lines():
    data = (
        "\ufeffTest ID;Password;Test Type;Assigned To\r\n"
        'T0001;"p;w";Academic;"{""note"": ""two\nlines""}"\r\n'
        "\r\n"
        " T0002 ; pw2 ;Academic\r\n"
    ).encode()
    rows = read_csv(data)
    assert rows == [
        Row(
            2,
            {
                "test-id": "T0001",
                "password": "p;w",
                "test-type": "Academic",
                "assigned-to": '{"note": "two\nlines"}',
            },
        ),
        Row(4, {"test-id": "T0002", "password": "pw2", "test-type": "Academic", "assigned-to": ""}),
    ]


def test_the_header_may_come_after_blank_lines():
    rows = read_csv(b"\r\n,,\r\nTest ID,Password,Test Type\r\nT1,p,A\r\n")
    assert rows == [Row(4, {"test-id": "T1", "password": "p", "test-type": "A"})]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "file: the file is empty"),
        (b"\xef\xbb\xbf \r\n", "file: the file is empty"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest", "file: this is a legacy Excel .xls workbook"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "file: not a CSV or XLSX file (binary content)"),
        ("Test ID,Passwört\n".encode("latin-1"), "file: not a CSV or XLSX file, or a CSV that is not UTF-8"),
    ],
)
def test_files_that_are_not_csv_or_xlsx_are_refused(data, reason):
    with pytest.raises(FileRejected) as refused:
        tabular.sniff(data, len(data))
    assert refused.value.reason.startswith(reason)


def test_a_multibyte_character_cut_at_the_end_of_the_head_is_not_an_error():
    data = ("Test ID,Password,Test Type\n" + "é" * 40).encode()
    assert tabular.sniff(data[:-1], len(data)).kind == "csv"


def test_a_broken_csv_is_refused_at_the_row_where_it_breaks(monkeypatch):
    monkeypatch.setattr(tabular, "MAX_FIELD", 50)
    data = b"Test ID,Password,Test Type\nT1,p,A\nT2," + b'"' + b"x" * 100 + b'",A\n'
    _columns, rows = tabular.csv_rows(io.BytesIO(data), ",")
    try:
        assert next(rows).number == 2
        with pytest.raises(FileRejected, match="row 3: the CSV is malformed here"):
            next(rows)
    finally:
        csv.field_size_limit(128 * 1024)  # the limit is process-wide


def _text_stream_records(data: bytes, delimiter: str) -> list[list[str]]:
    """What the csv module reads from a text stream opened as the import opened it before rows had offsets."""
    text = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", errors="replace", newline="")
    return list(csv.reader(text, delimiter=delimiter))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.lists(
        st.sampled_from(["T1", "pw", ",", ";", '"', '""', "\r", "\n", "\r\n", " ", "é", "\xe9", "\ufeff"]),
        max_size=60,
    ).map(lambda parts: "".join(parts).encode("utf-8", "surrogateescape")),
    bom=st.booleans(),
    block=st.integers(min_value=1, max_value=9),
)
@example(body=b"T1,pw\rT2,pw\r\nT3,pw\n", bom=True, block=4)
def test_csv_lines_split_and_decode_as_a_text_stream_does(monkeypatch, body, bom, block):
    # Given any bytes (lone CR, CRLF cut between two reads, quotes, text that is not UTF-8, a BOM)
    monkeypatch.setattr(tabular, "READ_BLOCK", block)
    data = (
        (b"\xef\xbb\xbf" if bom else b"")
        + b"Test ID,Password,Test Type\r\n"
        + body.replace(b"\xc3\xa9\xe9", b"")
    )
    expected = _text_stream_records(data, ",")
    # When the rows are read from the bytes, each ending at a byte offset
    records = list(tabular._records(io.BytesIO(data), ",", after=0, position=0))
    # Then they are the records a text stream gives, and each offset ends its record
    assert [cells for _n, cells, _end in records] == expected
    for number, _cells, end in records:
        rest = list(tabular._records(io.BytesIO(data[end:]), ",", after=number, position=end))
        assert [cells for _n, cells, _e in rest] == expected[number:]
        assert [n for n, _c, _e in rest] == list(range(number + 1, len(expected) + 1))


def test_a_csv_read_resumes_at_a_rows_end_offset():
    data = (
        "\ufeffTest ID;Password;Test Type;Assigned To\r\n"
        'T0001;"p;w";Academic;"{""note"": ""two\nlines""}"\r\n'
        "\r\n"
        " T0002 ; pw2 ;Academic\r\n"
        "T0003;pw3;Academic\r\n"
    ).encode()
    columns, rows = tabular.csv_rows(io.BytesIO(data), ";")
    first = next(rows)
    rest = list(tabular.csv_rows_from(io.BytesIO(data[first.end :]), ";", columns, first.number, first.end))
    assert [(r.number, r.values["test-id"]) for r in rest] == [(4, "T0002"), (5, "T0003")]
    assert rest[-1].end == len(data) and list(rows) == rest


def test_a_line_without_end_is_refused_not_held_in_memory(monkeypatch):
    monkeypatch.setattr(tabular, "MAX_LINE", 1000)
    data = b"Test ID,Password,Test Type\nT1,p,A\nT2," + b"x" * 5000
    _columns, rows = tabular.csv_rows(io.BytesIO(data), ",")
    assert next(rows).number == 2
    with pytest.raises(FileRejected, match="row 3: the CSV is malformed here \\(a line longer than 1000"):
        next(rows)


def test_xlsx_rows_numbers_and_dates_read_as_text():
    from datetime import datetime

    data = xlsx(
        [[123982, 4711.0, "Academic-Plus"], [None, None, None], ["T2", "pw", datetime(2024, 9, 1, 12, 0)]]
    )
    assert tabular.sniff(data[:100], len(data)).kind == "xlsx"
    columns, rows, workbook = tabular.xlsx_rows(io.BytesIO(data))
    try:
        assert columns == {"test-id": 0, "password": 1, "test-type": 2}
        assert list(rows) == [
            Row(2, {"test-id": "123982", "password": "4711", "test-type": "Academic-Plus"}),
            Row(4, {"test-id": "T2", "password": "pw", "test-type": "2024-09-01T12:00:00"}),
        ]
    finally:
        workbook.close()


MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
SHARED = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<sst xmlns="{MAIN}" count="8" uniqueCount="8">
<si><t>Test ID</t></si>
<si><t xml:space="preserve"> Password </t></si>
<si><r><rPr><b/></rPr><t>Test </t></r><r><t xml:space="preserve">Type</t></r></si>
<si><t>Academic_x005F_Plus</t></si>
<si><t>漢字</t><rPh sb="0" eb="2"><t>かんじ</t></rPh><phoneticPr fontId="1"/></si>
<si><t/></si>
<si><t>T-2</t></si>
<si><t>line&#10;break &amp; &lt;tag&gt;</t></si>
</sst>"""
SHEET = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="{MAIN}"><dimension ref="A1:C2"/><sheetData>
<row r="1" spans="1:3"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c><c r="C1" t="s"><v>2</v></c></row>
<row r="2"><c r="A2" t="inlineStr"><is><t>INLINE-1</t></is></c><c r="B2"><v>4711</v></c><c r="C2" t="s"><v>3</v></c></row>
<row r="3"/>
<row r="5"><c r="A5" t="s"><v>4</v></c><c r="B5" t="b"><v>1</v></c><c r="C5" t="str"><f>A1</f><v>formula text</v></c></row>
<row><c t="s"><v>6</v></c><c><v>1.5E3</v></c><c t="s"><v>7</v></c></row>
<row r="7"><c r="B7" t="e"><v>#N/A</v></c><c r="E7" t="s"><v>5</v></c></row>
<row r="8"><c r="A8" t="inlineStr"><is><r><t>rich </t></r><r><t>inline</t></r></is></c><c r="C8"><v>0.25</v></c></row>
<row r="9"><c r="A9"><v>123982</v></c><c r="B9" s="1"><v>45000</v></c><c r="C9" s="1"><v>45000.5</v></c></row>
</sheetData></worksheet>"""


def openpyxl_rows(data: bytes) -> list[tuple[int, list[str]]]:
    """What openpyxl's own read-only mode reads, as cell text, trailing empty cells and empty rows dropped."""
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(data), read_only=True, data_only=True, keep_links=False)
    book.worksheets[0].reset_dimensions()  # openpyxl would stop at the declared dimension
    try:
        rows = enumerate(book.worksheets[0].iter_rows(values_only=True), start=1)
        return _texts((n, list(values)) for n, values in rows)
    finally:
        book.close()


def _texts(rows) -> list[tuple[int, list[str]]]:
    out = []
    for number, values in rows:
        cells = [tabular.cell_text(v) for v in values]
        while cells and not cells[-1]:
            cells.pop()
        if cells:
            out.append((number, cells))
    return out


# The least openpyxl reads (a date format on style 1); it warns that no default style is declared.
STYLES = f"""<styleSheet xmlns="{MAIN}"><cellXfs count="2"><xf numFmtId="0"/><xf numFmtId="14" applyNumberFormat="1"/></cellXfs></styleSheet>"""


def crafted_workbook() -> bytes:
    return xlsx_package(SHEET, SHARED, STYLES)


def test_shared_strings_on_disk_read_as_openpyxl_reads_them():
    from openpyxl.reader.strings import read_string_table

    strings = tabular.SharedStrings()
    try:
        strings.load(io.BytesIO(SHARED.encode()))
        expected = read_string_table(io.BytesIO(SHARED.encode()))
        assert [strings[i] for i in range(len(strings))] == expected
        assert expected[1:5] == [" Password ", "Test Type", "Academic_Plus", "漢字"]
        with pytest.raises(IndexError):
            strings[len(expected)]
    finally:
        strings.close()


@pytest.mark.filterwarnings("ignore:Workbook contains no default style")
@pytest.mark.parametrize(
    "data",
    [
        pytest.param(crafted_workbook(), id="inline-rich-phonetic-formula-error-gaps"),
        pytest.param(
            xlsx(
                [
                    [123982, 4711.0, "Academic-Plus"],
                    [None, None, None],
                    ["T2", "pw", __import__("datetime").datetime(2024, 9, 1, 12, 0)],
                ]
            ),
            id="numbers-dates",
        ),
    ],
)
def test_xlsx_cells_are_the_ones_openpyxl_reads(data):
    workbook = tabular.xlsx_rows(io.BytesIO(data))[2]
    try:
        ours = _texts(tabular.SheetRows(workbook.book.worksheets[0], workbook.strings))
    finally:
        workbook.close()
    assert ours == openpyxl_rows(data)


@pytest.mark.filterwarnings("ignore:Workbook contains no default style")
def test_xlsx_rows_past_a_wrong_dimension_are_read_and_rows_before_the_offset_are_not_converted():
    # Given a sheet that declares A1:C2 but holds rows up to 8
    data = crafted_workbook()
    columns, rows, workbook = tabular.xlsx_rows(io.BytesIO(data))
    try:
        assert columns == {"test-id": 0, "password": 1, "test-type": 2}
        every = list(rows)
    finally:
        workbook.close()
    assert [r.number for r in every] == [2, 5, 6, 7, 8, 9]
    assert every[5].values == {
        "test-id": "123982",
        "password": "2023-03-15T00:00:00",
        "test-type": "2023-03-15T12:00:00",
    }
    assert every[2].values == {"test-id": "T-2", "password": "1500", "test-type": "line\nbreak & <tag>"}
    # When it is read again after row 5 (a later segment), counting the rows openpyxl converts
    from openpyxl.worksheet._reader import WorkSheetParser

    converted = []
    parse_row = WorkSheetParser.parse_row

    def counting(parser, element):
        converted.append(element.get("r"))
        return parse_row(parser, element)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(WorkSheetParser, "parse_row", counting)
        _columns, rows, workbook = tabular.xlsx_rows(io.BytesIO(data), after=5)
        try:
            rest = list(rows)
        finally:
            workbook.close()
    # Then it gets the same rows after it, and only the header and those rows had their cells converted
    assert rest == every[2:]
    assert converted == ["1", None, "7", "8", "9"]


def test_an_xlsx_whose_first_sheet_lacks_the_columns_is_refused():
    with pytest.raises(FileRejected, match="required column"):
        tabular.xlsx_rows(io.BytesIO(xlsx([["x"]], header=["Test ID", "Notes"])))


def test_a_zip_that_is_not_a_workbook_is_refused():
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(FileRejected, match="a ZIP file but not a readable XLSX workbook"):
        tabular.xlsx_rows(io.BytesIO(out.getvalue()))


def test_seen_ids_remember_the_first_row_case_insensitively_and_grow(tmp_path):
    seen = tabular.SeenIds(tmp_path / "seen")
    assert seen.add("T1", 2) is None and seen.add("t1", 9) == 2 and seen.first_row("T1") == 2
    for i in range(10_000):
        assert seen.add(f"X{i}", i + 10) is None
    assert len(seen) == 10_001 and seen.first_row("X9999") == 10_009 and seen.first_row("nope") is None
    seen.close()


def test_seen_ids_are_carried_in_their_file_and_replayed_rows_are_not_duplicates(tmp_path):
    # Given a tracker saved after rows 2..4, copied (as a segment hands it over) and reopened
    seen = tabular.SeenIds(tmp_path / "first")
    for row, test_id in ((2, "A1"), (3, "B1"), (4, "C1")):
        seen.add(test_id, row)
    seen.save()
    (tmp_path / "copy").write_bytes((tmp_path / "first").read_bytes())
    seen.close()
    carried = tabular.SeenIds(tmp_path / "copy")
    # Then it remembers them, and a row met again (a segment redone) is not a duplicate of itself
    assert carried.add("a1", 7) == 2 and carried.add("C1", 4) is None and carried.first_row("C1") == 4
    # And a stored row after this one comes from a run that read further: this row is the first
    assert carried.add("B1", 1) is None and carried.first_row("B1") == 1 and carried.add("B1", 3) == 1
    carried.close()


def _peak_rss_growth_kib(work) -> int:
    """Peak resident memory growth (KiB) while `work` runs; SQLite's allocations are invisible to
    tracemalloc, so the process's high-water mark is read instead (Linux)."""
    from pathlib import Path

    def status(name: str) -> int:
        line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith(name))
        return int(line.split()[1])

    Path("/proc/self/clear_refs").write_text("5")  # high-water mark := current
    before = status("VmRSS:")
    work()
    return status("VmHWM:") - before


@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/clear_refs"), reason="Linux only")
def test_seen_ids_keep_their_ids_on_disk_not_in_memory(tmp_path):
    seen = tabular.SeenIds(tmp_path / "seen")

    def add() -> None:
        for i in range(200_000):
            seen.add(f"TEST{i:08d}", i)

    growth = _peak_rss_growth_kib(add)
    seen.save()
    assert (tmp_path / "seen").stat().st_size > 3_000_000  # 200k IDs: ~4 MB in the file
    assert growth < 3 * 1024, growth  # the page cache (2 MiB) and change; an in-memory table: ~9 MB
    seen.close()


ROW = {"test-id": "T0001", "password": "pw", "test-type": "Academic-Plus", "status": "", "assigned-to": ""}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"test-id": ""}, "test-id: is required"),
        ({"test-id": "x"}, "test-id: must be 3-40 letters, digits, '-' or '_'"),
        ({"password": ""}, "password: must be 1-64 characters"),
        ({"test-type": "a b"}, "test-type: must be 1-63 letters, digits, '-' or '_' (e.g. Academic-Plus)"),
        ({"status": "Lost"}, "status: unknown status 'Lost'"),
        ({"assigned-to": "{"}, "assigned-to: is not valid JSON"),
        ({"assigned-to": '"text"'}, "assigned-to: must be a JSON object"),
        (
            {"assigned-to": "[" * 2000 + "]" * 2000},
            "assigned-to: is not valid JSON (nested deeper",
        ),
        ({"assigned-to": '{"name": "Mary \\ud800"}'}, "assigned-to.name: must not contain lone surrogates"),
        (
            {"assigned-to": '{"id": ' + "1" * 39 + "}"},
            "assigned-to: must not hold a number DynamoDB cannot store",
        ),
        ({"assigned-to": '{"expire": "2024-13-01"}'}, "assigned-to.expire: must be an ISO date or date-time"),
        ({"password": "caf\ufffd"}, "row: is not valid UTF-8 text"),
    ],
)
def test_bad_rows_are_refused_naming_the_column(change, message):
    with pytest.raises(InvalidInput) as refused:
        imports.parse_row(Row(2, {**ROW, **change}))
    assert refused.value.description.startswith(message)


def test_a_good_row_is_normalised():
    parsed = imports.parse_row(
        Row(2, {**ROW, "status": "technical difficulty", "assigned-to": '{"expire": "2024-09-01"}'})
    )
    assert (parsed.test_id, parsed.status, parsed.assigned_to) == (
        "T0001",
        "Technical Difficulty",
        {"expire": "2024-09-01"},
    )
    assert imports.parse_row(Row(2, {**ROW, "assigned-to": "{}"})).assigned_to is None


def test_the_bulk_serialiser_matches_boto3s():
    from gateway.repo import batch, to_item

    value = {
        "s": "x",
        "n": 3,
        "f": 2.5,
        "b": True,
        "none": None,
        "m": {"a": [1, "two", {"c": None}], "e": ""},
        "ss": {"b", "a"},
        "h": [{"at": "now", "detail": {"row": 2}}],
    }
    expected = to_item(value)
    got = batch.item(value)
    assert got == {**expected, "ss": {"SS": sorted(expected["ss"]["SS"])}}
    with pytest.raises(TypeError):
        batch.item({"x": float("inf")})


def test_json_constants_are_not_numbers():
    with pytest.raises(InvalidInput, match="assigned-to: is not valid JSON"):
        imports.parse_row(Row(2, {**ROW, "assigned-to": '{"n": Infinity}'}))
