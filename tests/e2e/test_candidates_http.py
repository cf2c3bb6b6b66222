"""Candidate administration over HTTP on the local stack: search, a phone number with a leading zero, and
an XLSX report that arrives as a real binary file."""

from __future__ import annotations

import io

import requests
from openpyxl import load_workbook


def test_search_update_and_xlsx_report_over_http(local_stack):
    base, headers = local_stack.base_url, {"x-api-key": local_stack.admin_key}
    # Given a candidate registered with the V2 seed's request from the dashboard
    registered = requests.post(
        base + "/v2/tests/4242/register",
        json={"emailId": "e2e.candidate@example.com", "fullName": "Eko Dua", "source": "dashboard"},
        headers=headers,
        timeout=30,
    )
    assert registered.status_code == 200, registered.text
    # When it is searched by e-mail prefix and source
    found = requests.get(
        base + "/v1/candidates",
        params={"email-prefix": "e2e.cand", "source": "dashboard"},
        headers=headers,
        timeout=30,
    )
    assert found.status_code == 200, found.text
    [item] = found.json()["items"]
    # And its phone number is set with a leading zero
    patched = requests.patch(
        base + f"/v1/candidates/{item['id']}",
        json={"dial-code": "+62", "phone": "0812 3456 7890"},
        headers=headers,
        timeout=30,
    )
    assert patched.status_code == 200 and patched.json()["phone"] == "0812 3456 7890", patched.text
    # Then its report downloads as an XLSX file that openpyxl reads
    report = requests.get(base + f"/v1/candidates/{item['id']}/report.xlsx", headers=headers, timeout=60)
    assert report.status_code == 200, report.text
    assert report.headers["content-type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(report.content), read_only=True)
    rows = list(book["Results"].iter_rows(values_only=True))
    assert rows[1][:8] == (item["id"], "e2e.candidate@example.com", "Eko Dua", item["org-unit"], "v2",
                           str(registered.json()["result"]["testInvitationId"]), "4242", "Registered")  # fmt: skip
