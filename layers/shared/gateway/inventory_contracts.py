"""Request and response contracts of inventory imports, low-stock thresholds and jobs (kebab-case, /v1).

Wire formats only; stored items live in gateway.repo.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from gateway.contracts import Kebab
from gateway.validation import Email, ShortText

ImportState = Literal["pending", "running", "completed", "failed"]


class CreateImport(Kebab):
    """Body of POST /v1/inventory/imports (optional: an empty body imports into the caller's unit)."""

    org_unit: str | None = Field(
        default=None, alias="org-unit", max_length=64, description="Unit to import into; default: caller's."
    )
    file_name: ShortText | None = Field(
        default=None, alias="file-name", description="Shown in the status and the report's name."
    )


class ImportCreated(Kebab):
    import_id: str = Field(alias="import-id")
    upload_url: str = Field(
        alias="upload-url", description="PUT the CSV or XLSX file here (any content type), before expires-at."
    )
    upload_method: Literal["PUT"] = Field(default="PUT", alias="upload-method")
    expires_at: str = Field(alias="expires-at")
    org_unit: str = Field(alias="org-unit")
    status: ImportState


class SkippedRow(Kebab):
    row: int = Field(description="Row number as a spreadsheet program shows it (the header is row 1).")
    test_id: str | None = Field(alias="test-id")
    reason: str


class ImportStatus(Kebab):
    import_id: str = Field(alias="import-id")
    status: ImportState
    org_unit: str = Field(alias="org-unit")
    file_name: str | None = Field(default=None, alias="file-name")
    format: str | None = Field(default=None, description="CSV (comma-, semicolon- or tab-separated) or XLSX.")
    rows_read: int = Field(alias="rows-read")
    imported: int = Field(description="Rows that added or changed a test ID (added + updated).")
    added: int
    updated: int
    unchanged: int
    skipped: list[SkippedRow] = Field(description="The first 100 skipped rows; the report has them all.")
    skipped_total: int = Field(alias="skipped-total")
    report_url: str | None = Field(
        alias="report-url", description="The per-row report (CSV), a link valid for an hour; null until done."
    )
    error: str | None = Field(default=None, description="Why the import failed (status failed).")
    created_at: str = Field(alias="created-at")
    updated_at: str = Field(alias="updated-at")
    finished_at: str | None = Field(default=None, alias="finished-at")


class ThresholdRequest(Kebab):
    """Body of PUT /v1/inventory/thresholds: warn when available IDs of a type fall below `threshold`."""

    org_unit: str | None = Field(default=None, alias="org-unit", max_length=64)
    test_type: str = Field(alias="test-type", min_length=1, max_length=63, examples=["Academic-Plus"])
    threshold: int = Field(ge=0, le=1_000_000, description="0 removes the warning.")
    notify: list[Email] = Field(
        default_factory=list,
        max_length=10,
        description="Addresses warned besides the unit's admins (the `admin-emails` of its notification "
        "settings, own or inherited); optional.",
    )


class ThresholdView(Kebab):
    org_unit: str = Field(alias="org-unit")
    test_type: str = Field(alias="test-type")
    threshold: int
    notify: list[str] = Field(description="The threshold's own extra addresses.")
    recipients: list[str] = Field(
        description="Who a warning is mailed to now: the unit's admin-emails (own or inherited) and "
        "`notify`, each once. Empty: no e-mail is sent, but the `inventory.low` event still goes out and "
        "the warning is still counted."
    )
    armed: bool = Field(description="False after a warning, until stock is back at or above the threshold.")
    warnings: int = Field(description="Warnings sent so far.")
    warned_at: str | None = Field(default=None, alias="warned-at")
    available: int | None = Field(
        default=None, description="Available IDs when last checked (counted up to the threshold)."
    )
    updated_at: str = Field(alias="updated-at")


class ThresholdPage(Kebab):
    items: list[ThresholdView]


class ExpiryRun(Kebab):
    examined: int = Field(description="Due assignments read from the expiry index.")
    released: int = Field(description="Assignments released (test back in stock, new password).")
    skipped: int = Field(description="Due assignments left alone (the test started meanwhile, or changed).")
    complete: bool = Field(
        default=True, description="False when the run stopped at its time limit; the next run goes on."
    )
