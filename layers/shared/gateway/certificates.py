"""Certificates (issue 8, section 3): issued once per passing CT result, verifiable in public, revocable.

Issuing runs in the certificates function, from CertificateQueue (at least once):
1. the outcome must still be `passed` for that version, and the candidate's CT status of the level must
   say `passed` (ETAPI-16: the status comes first, it was written with the outcome);
2. the code is derived from the result (kind and subject), so every attempt finds the same one; a
   certificate record that exists already ends the work (nothing is issued twice);
3. the PDF is rendered deterministically (same bytes every time) and put at certificates/<code>.pdf;
4. one transaction stores the certificate record (conditional on being new) and links it from the
   outcome and the CT status; a concurrent attempt that lost the condition changes nothing.
fpdf2 is a dependency of the certificates function alone and is imported only here, when a PDF is made.
"""

from __future__ import annotations

import json
import unicodedata
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aws_lambda_powertools import Logger
from pydantic import Field

from gateway import certification
from gateway.auth import Caller
from gateway.contracts import Kebab
from gateway.errors import NotFound
from gateway.repo import directory, now_iso, objects
from gateway.repo import outcomes as repo

logger = Logger(child=True)
PREFIX = "certificates/"
BASE_LEVEL = {"A1+": "A1", "A2+": "A2", "B1+": "B1", "B2+": "B2"}


class Retry(Exception):
    """The certificate cannot be issued yet (the CT status is not there): the message comes back."""


class Verification(Kebab):
    """What the public verification route says: no more than the certificate itself shows."""

    code: str
    status: str = Field(
        description="valid | revoked | erased (the holder's personal data was erased: nothing else is "
        "shown) | unknown"
    )
    name: str | None = None
    org_unit: str | None = Field(default=None, alias="org-unit")
    test_type: str | None = Field(default=None, alias="test-type")
    level: str | None = None
    cefr: str | None = None
    issued_on: str | None = Field(default=None, alias="issued-on")
    revoked_on: str | None = Field(default=None, alias="revoked-on")


_LETTERS = {"Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "Œ": "OE", "œ": "oe", "ı": "i", "Ħ": "H", "ħ": "h"}


def _latin(text: str) -> str:
    """Text the PDF's core font can show: accents kept where Latin-1 has them, others transliterated."""
    out = []
    for char in text:
        try:
            char.encode("latin-1")
            out.append(char)
        except UnicodeEncodeError:
            plain = unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode()
            out.append(plain or _LETTERS.get(char, "?"))
    return "".join(out)


def _as_is(text: str) -> str:
    return text


def render_pdf(cert: dict[str, Any], font_dir: Path | None = None) -> bytes:
    """The certificate as a one-page A4 landscape PDF; the same record always gives the same bytes. With
    `font_dir` holding DejaVuSans(-Bold).ttf (the certificates function bundles them) any name prints as
    written; without, the core font shows Latin-1 and transliterates the rest."""
    from fpdf import FPDF

    pdf = FPDF(orientation="L", unit="mm", format="A4")
    family, text_of = "Helvetica", _latin
    if font_dir is not None and (font_dir / "DejaVuSans.ttf").exists():
        pdf.add_font("DejaVu", "", str(font_dir / "DejaVuSans.ttf"))
        pdf.add_font("DejaVu", "B", str(font_dir / "DejaVuSans-Bold.ttf"))
        family, text_of = "DejaVu", _as_is
    pdf.set_creation_date(datetime.fromisoformat(cert["issued_on"]).replace(tzinfo=UTC))
    pdf.set_title(f"Certificate {cert['code']}")
    pdf.set_author("Assessment Gateway")
    pdf.set_auto_page_break(auto=False)
    pdf.add_page()
    pdf.set_draw_color(30, 64, 120)
    pdf.set_line_width(1.5)
    pdf.rect(10, 10, 277, 190)
    pdf.set_line_width(0.4)
    pdf.rect(14, 14, 269, 182)

    def line(text: str, size: float, style: str = "", height: float = 12, color: int = 20) -> None:
        pdf.set_font(family, style, size)
        pdf.set_text_color(color, color, color)
        pdf.cell(0, height, text_of(text), align="C", new_x="LMARGIN", new_y="NEXT")

    pdf.set_y(30)
    line("Certificate of Achievement", 30, "B", 16)
    line("This certifies that", 14, height=14, color=80)
    line(cert["name"], 26, "B", 16)
    line(f"of {cert['org_unit']}", 14, height=10, color=60)
    line(f"has passed the certification test {cert['test_type']}", 15, height=12)
    line(f"Level {cert['level']}  -  CEFR {cert['cefr']}", 20, "B", 14)
    line(f"Date: {cert['issued_on']}", 13, height=12, color=60)
    pdf.set_y(165)
    line(f"Verification code: {cert['code']}", 12, "B", 8)
    line(f"Verify at: {cert['verify_url']}", 10, height=8, color=80)
    return bytes(pdf.output())


def _issue_record(outcome: dict[str, Any], code: str) -> dict[str, Any]:
    unit = directory.get_unit(outcome["unit_id"])
    level = outcome["outcome"].get("level") or outcome.get("level") or ""
    cefr = BASE_LEVEL.get(level, level)
    return {
        "code": code,
        "candidate_id": outcome["candidate_id"],
        # Never the e-mail: the public verification shows what the certificate shows.
        "name": outcome.get("full_name") or "Candidate",
        "org_unit": unit.name if unit else outcome["unit_id"],
        "unit_id": outcome["unit_id"],
        "unit_path": outcome["unit_path"],
        "test_type": outcome["test_type"],
        "level": level,
        "cefr": cefr,
        "issued_on": outcome["date"],
        "kind": outcome["kind"],
        "subject": outcome["subject"],
        "pdf_key": f"{PREFIX}{code}.pdf",
        "verify_url": f"{outcome.get('links_base', '')}{certification.CERTIFICATES}/{code}",
        "created_at": now_iso(),
    }


def issue(message: str, font_dir: Path | None = None) -> str:
    """Handle one CertificateQueue message: the certificate's code, or what was skipped and why."""
    job = json.loads(message)
    key = repo.outcome_key(job["candidate_id"], job["kind"], job["subject"])
    outcome = repo.get(key)
    if outcome is None or outcome.get("result") != "passed":
        return "skipped: the outcome is not a pass"
    if int(outcome.get("version", 0)) != int(job["version"]):
        return "skipped: a later version of the result decides"
    level = str(outcome["outcome"].get("level") or outcome.get("level"))
    status = repo.get({"pk": key["pk"], "sk": f"CT#{level}"})
    if status is None or status.get("status") != "passed":
        raise Retry("the candidate's CT status is not passed yet")
    code = certification.certificate_code(job["kind"], job["subject"])
    if outcome.get("certificate") == code or repo.certificate(code) is not None:
        return code
    record = _issue_record(outcome, code)
    objects.put(record["pdf_key"], render_pdf(record, font_dir), "application/pdf")
    if repo.record_certificate(record, key, level):
        repo.link_profile(outcome["candidate_id"], code)
        logger.info("certificate issued", extra={"code": code, "unit_id": outcome["unit_id"]})
    return code


def verify(code: str) -> Verification:
    normalised = code.strip().upper()
    record = repo.certificate(normalised) if len(normalised) <= 32 else None
    if record is None:
        return Verification(code=code[:32], status="unknown")
    if record.get("status") == repo.ERASED:
        return Verification(code=normalised, status=repo.ERASED)
    return Verification(
        code=normalised,
        status="revoked" if record.get("revoked_at") else "valid",
        name=record["name"],
        org_unit=record["org_unit"],
        test_type=record["test_type"],
        level=record["level"],
        cefr=record["cefr"],
        issued_on=record["issued_on"],
        revoked_on=str(record["revoked_at"])[:10] if record.get("revoked_at") else None,
    )


def _in_scope(caller: Caller, code: str) -> dict[str, Any]:
    record = repo.certificate(code.strip().upper())
    if record is None or record.get("status") == repo.ERASED or not caller.can_see(record["unit_path"]):
        raise NotFound(f"code: no certificate '{code}'")
    return record


def revoke(caller: Caller, code: str, reason: str | None) -> Verification:
    record = _in_scope(caller, code)
    if repo.revoke(record["code"], now_iso(), caller.key_id, reason) is None:
        raise NotFound(f"code: no certificate '{code}'")
    return verify(record["code"])


def download_url(record: dict[str, Any]) -> str:
    return objects.presign_get(record["pdf_key"], 3600, f"certificate-{record['code']}.pdf")
