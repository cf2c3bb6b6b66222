"""The sandbox engine as a candidate sees it: open the takeTestURL, start, finish (headless Chromium)."""

from __future__ import annotations

import uuid

import requests

from tests.e2e.test_swagger_browser import ARGS, CHROMIUM


def test_a_candidate_starts_and_finishes_a_sandbox_test(local_stack):
    from playwright.sync_api import sync_playwright

    headers = {"x-api-key": local_stack.admin_key}
    email = f"sandbox-{uuid.uuid4().hex[:6]}@example.com"
    registered = requests.post(
        f"{local_stack.base_url}/v2/tests/31/register",
        headers=headers,
        timeout=30,
        json={"emailId": email, "fullName": "Sandra Box"},
    ).json()["result"]
    # The takeTestURL points at this stack's sandbox engine
    assert registered["takeTestURL"].startswith(f"{local_stack.base_url}/sandbox/take/")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page()
            # When the candidate opens the link, starts and finishes the test
            page.goto(registered["takeTestURL"])
            assert "Hello Sandra Box" in page.text_content("h1")
            assert page.text_content("#status") == "Registered"
            page.click("#start")
            page.wait_for_load_state()
            assert page.text_content("#status") == "Started"
            page.click("#finish")
            page.wait_for_load_state()
            assert page.text_content("#status") == "Completed"
            score = int(page.text_content("#score"))
        finally:
            browser.close()
    # Then the invitation went through the results intake as a real engine's result would
    invitation = requests.get(
        f"{local_stack.base_url}/v2/invitations/{registered['testInvitationId']}", headers=headers, timeout=30
    ).json()["result"]
    assert invitation["status"] == "Completed"
    assert 20 <= score <= 50


def test_an_unknown_take_test_link_is_404(local_stack):
    reply = requests.get(f"{local_stack.base_url}/sandbox/take/{'A' * 32}", timeout=30)
    assert reply.status_code == 404 and "not valid" in reply.text
