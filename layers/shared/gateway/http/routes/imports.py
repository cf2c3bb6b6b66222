"""Inventory imports: a presigned upload URL, then the import's status (served by the provisioning API)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path

from gateway.auth import current_caller
from gateway.contracts import Role
from gateway.http.app import requires
from gateway.http.routes.common import documented
from gateway.inventory_contracts import CreateImport, ImportCreated, ImportStatus

router = Router()  # type: ignore[no-untyped-call]


@router.post(
    "/v1/inventory/imports",
    summary="Start an import: a presigned URL to PUT a CSV or XLSX export to",
    description="PUT the file to `upload-url` within 15 minutes (`curl -T tests.csv '<upload-url>'`); the "
    "import runs when it lands. CSV (UTF-8, comma or semicolon) or XLSX; columns `Test ID`, `Password`, "
    "`Test Type` (required) and `Status`, `Assigned To` (optional), names matched tolerantly. Rows are "
    "upserts keyed by test ID; assigned or started tests are never overwritten. The body is optional.",
    tags=["Inventory"],
    responses=documented(201, "Upload URL."),
)
@requires(Role.ADMIN)
def create_import(request: Annotated[CreateImport | None, Body()] = None) -> tuple[ImportCreated, int]:
    from gateway import imports  # off the provisioning function's cold path (only these routes need it)

    return imports.create(current_caller(), request), 201


@router.get(
    "/v1/inventory/imports/<importId>",
    summary="An import's status: rows read, imported, unchanged, skipped (with reasons), the report",
    tags=["Inventory"],
    responses=documented(200, "Status."),
)
@requires(Role.ADMIN, Role.SUPPORT, body=None)
def import_status(
    importId: Annotated[str, Path(max_length=64, description="The import id.")],
) -> ImportStatus:
    from gateway import imports

    return imports.status(current_caller(), importId)
