"""Request and response contracts of a candidate's export and erasure (kebab-case, /v1).

Wire formats only; stored items live in gateway.repo.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from gateway.contracts import Kebab


# ----------------------------------------------------------------------------------------- privacy
class CandidateExport(Kebab):
    """Everything the service holds about one candidate (GET /v1/candidates/{id}/export)."""

    id: str
    exported_at: str = Field(alias="exported-at")
    profile: dict[str, Any] = Field(description="The candidate: e-mail, full name, unit, dates.")
    invitations: list[dict[str, Any]] = Field(description="V2 invitations, each with its result versions.")
    test_ids: list[dict[str, Any]] = Field(
        alias="test-ids",
        description="Test IDs naming the candidate (assigned-to, registration, history, result versions).",
    )
    deliveries: list[dict[str, Any]] = Field(description="Callbacks sent about the candidate, with the body.")
    emails: list[dict[str, Any]] = Field(
        default_factory=list, description="E-mails sent to the candidate's address (mail history, status)."
    )
    suppressions: list[dict[str, Any]] = Field(
        default_factory=list, description="Units that no longer mail the address (bounce or complaint)."
    )
    outcomes: list[dict[str, Any]] = Field(
        default_factory=list, description="Certification and placement outcomes of their tests."
    )
    ct_status: list[dict[str, Any]] = Field(
        default_factory=list, alias="ct-status", description="Their CT status per level."
    )
    certificates: list[dict[str, Any]] = Field(
        default_factory=list, description="Certificates issued to them: code, status, test type, level."
    )
    transfers: list[dict[str, Any]] = Field(
        default_factory=list, description="Transfers between organisation units (from, to, when, by)."
    )


class CandidateErased(Kebab):
    """What DELETE /v1/candidates/{id} erased (counts only)."""

    id: str
    erased: bool = True
    invitations: int
    test_ids: int = Field(alias="test-ids")
    results: int = Field(description="Result versions anonymised (their figures stay, without identity).")
    deliveries: int
    idempotency_records: int = Field(alias="idempotency-records")
    objects: int = Field(description="Uploads deleted / reports re-written in the imports bucket.")
    emails: int = Field(default=0, description="Mail records (e-mail history) deleted.")
    suppressions: int = Field(
        default=0, description="Suppressions of their address kept as a keyed hash only (still blocking)."
    )
    outcomes: int = Field(
        default=0, description="Outcomes replaced by anonymous copies (the institutional reports count them)."
    )
    ct_statuses: int = Field(default=0, alias="ct-statuses", description="CT status items deleted.")
    certificates: int = Field(
        default=0, description="Certificates erased: the code verifies as `erased`, the PDF is deleted."
    )
