"""The Swagger UI, as a person sees it: headless Debian chromium driven by Playwright."""

from __future__ import annotations

import shutil

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def test_swagger_ui_lists_the_operations_and_documents_the_api_key(local_stack, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page()
            # When a person opens the Swagger UI
            page.goto(local_stack.base_url + "/swagger")
            page.wait_for_selector(".opblock", timeout=20_000)
            # Then the registration and admin operations are listed, with an Authorize button for the key
            paths = page.locator(".opblock-summary-path").all_inner_texts()
            joined = " ".join(p.replace("\u200b", "") for p in paths)
            for path in (
                "/v2/tests/{testId}/register",
                "/v2/invitations/{testInvitationId}",
                "/v1/org-units",
                "/v1/api-keys",
                "/v1/api-keys/{keyId}",
                "/health",
            ):
                assert path in joined, (path, joined)
            assert page.locator("button.authorize").count() == 1
            page.screenshot(path=str(tmp_path / "swagger.png"), full_page=False)
            assert (tmp_path / "swagger.png").stat().st_size > 10_000  # a rendered page, not a blank one
        finally:
            browser.close()


@pytest.fixture(autouse=True)
def _needs_chromium():
    if not shutil.which("chromium") and not __import__("os").path.exists(CHROMIUM):
        pytest.fail("Debian's chromium is missing: `make browser` installs it")
