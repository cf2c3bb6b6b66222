"""Reading spreadsheet exports: format sniffing, tolerant headers, CSV dialects, XLSX, duplicates."""

from __future__ import annotations

import csv
import io

import pytest

from gateway import imports, tabular
from gateway.errors import InvalidInput
from gateway.tabular import FileRejected, Row


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


def test_seen_ids_remember_the_first_row_case_insensitively_and_grow():
    seen = tabular.SeenIds(capacity=4)
    assert seen.add("T1", 2) is None and seen.add("t1", 9) == 2 and seen.first_row("T1") == 2
    for i in range(10_000):
        assert seen.add(f"X{i}", i + 10) is None
    assert len(seen) == 10_001 and seen.first_row("X9999") == 10_009 and seen.first_row("nope") is None


def test_seen_ids_stay_small():
    import tracemalloc

    tracemalloc.start()
    seen = tabular.SeenIds()
    for i in range(100_000):
        seen.add(f"TEST{i:08d}", i)
    size, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert size < 6 * 1024 * 1024  # 100k IDs: a few MB, against ~15 MB for a set of strings


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
