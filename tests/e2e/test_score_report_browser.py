"""The score report page as a candidate sees it, in headless Debian chromium: rendered, the five-skill chart's
bars in the right proportions (in the DOM and in the pixels of a screenshot), and printable."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import time
import uuid

import requests

from tests.e2e.test_swagger_browser import ARGS, CHROMIUM
from tests.integration.certification_helpers import PLANS, TEST_TYPES

# Per skill: (correct, items) -> Grammar 100 %, Listening 50 %, Reading 25 %, Writing 75 %, Speaking 0 %
SPLIT = {"Grammar": (2, 2), "Listening": (1, 2), "Reading": (1, 4), "Writing": (3, 4), "Speaking": (0, 2)}
EXPECTED = {"Grammar": 100, "Listening": 50, "Reading": 25, "Writing": 75, "Speaking": 0}


def _items():
    out = []
    for skill, (correct, total) in SPLIT.items():
        for n in range(total):
            out.append(
                {
                    "ItemId": f"{skill[0]}{n}",
                    "Skill": skill,
                    "Level": "B1",
                    "Correct": n < correct,
                    "Answer": "x",
                }
            )
    return out


def _report_url(stack, items=None) -> str:
    base, root = stack.base_url, {"x-api-key": stack.admin_key}
    # A unit of its own (the stack is shared: a catalogue at the root would bind the other tests), its
    # catalogue, a registration for CT-B1 there, and the engine's signed result
    unit = requests.post(
        f"{base}/v1/org-units", json={"name": f"Reports {uuid.uuid4().hex[:6]}"}, headers=root, timeout=30
    ).json()["id"]
    key = requests.post(
        f"{base}/v1/api-keys", json={"org-unit": unit, "role": "admin"}, headers=root, timeout=30
    ).json()["api-key"]
    headers = {"x-api-key": key}
    assert (
        requests.put(
            f"{base}/v1/catalogue",
            json={"plans": PLANS, "test-types": TEST_TYPES},
            headers=headers,
            timeout=30,
        ).status_code
        == 200
    )
    email = f"report-{uuid.uuid4().hex[:6]}@example.com"
    registered = requests.post(
        f"{base}/v2/tests/901/register",
        headers=headers,
        timeout=30,
        json={"emailId": email, "fullName": "Rita Report"},
    ).json()["result"]
    body = json.dumps(
        {
            "TestInvitationId": registered["testInvitationId"],
            "Status": "Completed",
            "AttemptedOn": "2026-03-12T08:00:00",
            "Items": items or _items(),
        }
    )
    ts = str(int(time.time()))
    mac = hmac.new(stack.engine_secret.encode(), f"{ts}.{body}".encode(), hashlib.sha256).hexdigest()
    taken = requests.post(
        f"{base}/v1/results",
        data=body,
        timeout=30,
        headers={"content-type": "application/json", "x-timestamp": ts, "x-signature": f"v1={mac}"},
    )
    assert taken.status_code == 200, taken.text
    invitation = requests.get(
        f"{base}/v2/invitations/{registered['testInvitationId']}", headers=headers, timeout=30
    ).json()["result"]
    history = requests.get(
        f"{base}/v1/outcomes", params={"candidate-id": invitation["candidateId"]}, headers=headers, timeout=30
    ).json()
    url = history["outcomes"][0]["score-report-url"]
    assert url.startswith(f"{base}/score-reports/")  # the link is this stack's own page
    return url


def _column_heights(png: bytes, xs: list[float], colour: tuple[int, int, int]) -> list[int]:
    """How many pixels of `colour` (give or take anti-aliasing) each column at `xs` has."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    heights = []
    for x in xs:
        count = 0
        for y in range(image.height):
            pixel = image.getpixel((int(x), y))
            if all(abs(a - b) <= 12 for a, b in zip(pixel, colour, strict=True)):
                count += 1
        heights.append(count)
    return heights


def test_the_score_report_renders_its_chart_and_prints(local_stack, tmp_path):
    from PIL import Image
    from playwright.sync_api import sync_playwright
    from pypdf import PdfReader

    url = _report_url(local_stack)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 1400})
            # When the candidate opens the link (no API key)
            reply = page.goto(url)
            assert reply is not None and reply.status == 200
            assert page.text_content("h1") == "Score report"
            assert "Certification test B1: failed" in page.text_content("#outcome")
            # Then the page is not blank: a full-page screenshot has real content
            shot = page.screenshot(full_page=True)
            (tmp_path / "score-report.png").write_bytes(shot)
            image = Image.open(io.BytesIO(shot)).convert("L")
            dark = sum(1 for v in image.getdata() if v < 128)
            assert dark > 5000, dark
            # And the chart has one bar per skill, heights in proportion to the percents (DOM)
            bars = page.locator("rect.bar")
            assert bars.count() == 5
            boxes = {bars.nth(i).get_attribute("data-skill"): bars.nth(i).bounding_box() for i in range(5)}
            full = boxes["Grammar"]["height"]
            for skill, percent in EXPECTED.items():
                assert abs(boxes[skill]["height"] - full * percent / 100) <= 1.5, (skill, boxes[skill])
            # and in the pixels of the chart's own screenshot
            chart = page.locator("#chart")
            origin = chart.bounding_box()
            png = chart.screenshot()
            xs = [boxes[s]["x"] - origin["x"] + boxes[s]["width"] / 2 for s in EXPECTED]
            heights = _column_heights(png, xs, (0x1E, 0x40, 0x78))
            assert heights[0] > 150, heights
            for height, percent in zip(heights, EXPECTED.values(), strict=True):
                assert abs(height - heights[0] * percent / 100) <= 3, heights
            # When it is printed (print media): the hint goes, the bars turn black, the page stays whole
            page.emulate_media(media="print")
            assert page.locator("#print-hint").is_hidden()
            assert (
                page.evaluate("getComputedStyle(document.querySelector('rect.bar')).fill") == "rgb(0, 0, 0)"
            )
            printed = page.screenshot(full_page=True)
            (tmp_path / "score-report-print.png").write_bytes(printed)
            pdf = page.pdf(format="A4")
            text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
            assert "Score report" in text and "Rita Report" in text and "Review list" in text
        finally:
            browser.close()


def test_a_pass_gets_its_certificate_through_the_local_queue_and_verifies_over_http(local_stack):
    # Given a passing CT result (every item correct), taken in over HTTP
    passing = [dict(item, Correct=True) for item in _items()]
    url = _report_url(local_stack, passing)
    # When the stack's SQS trigger runs the certificates function, the page links the certificate
    deadline, link = time.time() + 30, None
    while time.time() < deadline and link is None:
        page = requests.get(url, timeout=30).text
        found = [part.split('"', 1)[0] for part in page.split('href="')[1:]]
        link = found[0].replace("&amp;", "&") if found else None
        if link is None:
            time.sleep(0.5)
    assert link is not None, "no certificate link on the score report"
    pdf = requests.get(link, timeout=30)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    from pypdf import PdfReader

    text = PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
    code = text.split("Verification code: ", 1)[1].split()[0]
    # Then the public route verifies it over HTTP, without a key
    verified = requests.get(f"{local_stack.base_url}/certificates/{code}", timeout=30).json()
    assert verified["status"] == "valid" and verified["name"] == "Rita Report" and verified["level"] == "B1"
