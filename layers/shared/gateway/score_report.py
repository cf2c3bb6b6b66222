"""The score report page (issue 6 section 3): this service's own HTML report of one outcome.

Opened with an unguessable token in the URL (the outcome's key and its 128-bit MAC under the master key),
so a candidate needs no API key. Overall and per-skill levels, CEFR, percents, a bar chart of the five
skills (inline SVG, no external assets), writing answers, "can do" / "can't do" statements per skill, and
the CT outcome with its review list or the placement with its areas for improvement. Printable (print CSS).
jinja2 (autoescaping) is a dependency of the certificates function, imported only here.
"""

from __future__ import annotations

from typing import Any

from gateway import certification, outcomes, statements
from gateway.errors import NotFound
from gateway.repo import outcomes as repo
from gateway.repo import results as results_repo
from gateway.results import Result
from gateway.statements import CEFR_RANK, SKILLS

CHART_HEIGHT = 200

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Score report - {{ name }}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#eef2f7;
color:#1b2430}
main{max-width:860px;margin:24px auto;background:#fff;padding:28px 36px;border-radius:8px}
h1{margin:0 0 4px;font-size:26px;color:#1e4078} h2{font-size:18px;color:#1e4078;margin:28px 0 8px}
.muted{color:#5a6472} table{border-collapse:collapse;width:100%} th,td{text-align:left;padding:6px 8px;
border-bottom:1px solid #dde3ea} .overall{display:flex;gap:28px;margin:18px 0}
.overall div{background:#f4f7fb;border-radius:6px;padding:10px 16px} .overall b{display:block;font-size:22px}
.outcome{padding:12px 16px;border-radius:6px;margin:16px 0} .passed,.placed{background:#e6f4ea}
.failed{background:#fdecea} .incomplete{background:#fff4e5} .bar{fill:#1e4078}
.skill{break-inside:avoid;page-break-inside:avoid;margin-bottom:12px} .cant{color:#a12622}
.answer{white-space:pre-wrap;background:#f7f7f7;padding:8px;border-radius:4px}
@media print{body{background:#fff} main{margin:0;max-width:none;padding:0;border-radius:0}
.no-print{display:none} .bar{fill:#000} h1,h2{color:#000} a{color:#000;text-decoration:none}}
</style></head>
<body><main>
<h1>Score report</h1>
<p class="muted">{{ name }} &middot; {{ test_type }} &middot; {{ date }}</p>
<p class="no-print muted" id="print-hint">Use your browser's Print command for a paper copy.</p>
<section class="overall">
<div>Overall level<b id="overall-level">{{ overall_level if overall_level is not none else "-" }}</b></div>
<div>CEFR<b id="overall-cefr">{{ overall_cefr or "-" }}</b></div>
<div>Score<b id="score">{{ "%.0f %%"|format(score) if score is not none else "-" }}</b></div>
</section>
{% if outcome %}<section class="outcome {{ outcome.outcome }}" id="outcome">
{% if outcome.kind == "certification" %}
<b>Certification test {{ outcome.level }}: {{ outcome.outcome }}</b>
{% if outcome.outcome == "passed" %}<p>{% if outcome.continue %}
You continue with level {{ outcome["next-level"] }}.
{% else %}You completed the last level of this package.{% endif %}
{% if certificate_url %} <a href="{{ certificate_url }}">Download your certificate</a>{% endif %}</p>
{% endif %}
{% if outcome.review %}<h2>Review list</h2><ol id="review">
{% for line in outcome.review %}<li>{{ line }}</li>
{% endfor %}</ol>{% endif %}
{% else %}<b>Placed at level {{ outcome.level or "-" }}</b>
{% if outcome.areas %}<h2>Areas for improvement</h2><ol id="areas">{% for area in outcome.areas %}
<li>{{ area.review }}</li>{% endfor %}</ol>{% endif %}{% endif %}
</section>{% endif %}
<h2>Skills</h2>
<svg id="chart" role="img" aria-label="Percent per skill" width="560" height="{{ chart_height + 70 }}"
 viewBox="0 0 560 {{ chart_height + 70 }}" xmlns="http://www.w3.org/2000/svg">
<line x1="20" y1="{{ chart_height + 30 }}" x2="550" y2="{{ chart_height + 30 }}" stroke="#888"/>
{% for bar in bars %}<rect class="bar" data-skill="{{ bar.skill }}" data-percent="{{ bar.percent }}"
 x="{{ 40 + loop.index0 * 104 }}" y="{{ chart_height + 30 - bar.height }}" width="60"
 height="{{ bar.height }}"/>
<text x="{{ 70 + loop.index0 * 104 }}" y="{{ chart_height + 50 }}" text-anchor="middle"
 font-size="13">{{ bar.skill }}</text>
<text x="{{ 70 + loop.index0 * 104 }}" y="{{ chart_height + 24 - bar.height }}" text-anchor="middle"
 font-size="12">{{ bar.label }}</text>{% endfor %}
</svg>
<table id="skills"><tr><th>Skill</th><th>Level</th><th>CEFR</th><th>Percent</th></tr>
{% for row in rows %}<tr><td>{{ row.skill }}</td><td>{{ row.level if row.level is not none else "-" }}</td>
<td>{{ row.cefr or "-" }}</td><td>{{ row.percent if row.percent is not none else "-" }}</td></tr>{% endfor %}
</table>
<h2>What you can do</h2>
{% for row in rows %}<div class="skill" data-skill="{{ row.skill }}"><b>{{ row.skill }}</b><ul>
{% for s in row.can %}<li class="can">{{ s }}</li>{% endfor %}
{% for s in row.cant %}<li class="cant">{{ s }}</li>
{% endfor %}</ul></div>{% endfor %}
{% if writing %}<h2>Writing</h2>{% for w in writing %}<div class="skill"><p><b>{{ w.question }}</b></p>
<div class="answer">{{ w.answer }}</div></div>{% endfor %}{% endif %}
</main></body></html>
"""

HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "frame-ancestors 'none'",
}


def _rows(result: Result) -> list[dict[str, Any]]:
    by_skill = outcomes.skills(result)
    rows = []
    for skill in SKILLS:
        entry = by_skill.get(skill, {})
        items = [i for i in result.items or [] if i["Skill"] == skill]
        if items:
            can = sorted(
                {i.get("CanDo") or statements.can_do(skill, i["Level"]) for i in items if i["Correct"]}
            )
            cant = sorted({outcomes.cant_do_of(i) for i in items if not i["Correct"]})
            can = [c for c in can if statements.cant_do(c) not in cant]  # a mixed result is not there yet
        elif entry.get("cefr"):
            cefr = entry["cefr"]
            can = [statements.can_do(skill, cefr)]
            higher = (
                statements.CEFR[CEFR_RANK[cefr] + 1] if CEFR_RANK[cefr] + 1 < len(statements.CEFR) else None
            )
            cant = [statements.cant_do(statements.can_do(skill, higher))] if higher else []
        else:
            can, cant = [], []
        rows.append({"skill": skill, **entry, "can": can, "cant": cant})
    return rows


def render(token: str) -> str:
    from jinja2 import Environment

    key = certification.outcome_of_token(token) if len(token) <= 400 else None  # no link is that long
    record = repo.get(repo.outcome_key(*key)) if key else None
    if key is None or record is None:
        raise NotFound("token: this score report link is not valid")
    _, kind, subject = key
    stored = next(
        (v for v in results_repo.versions(kind, subject) if v["version"] == record["version"]), None
    )
    fields = stored["result"] if stored else {}
    result = Result(
        kind, subject, str(fields.get("Status", "Completed")), fields, stored.get("raw", {}) if stored else {}
    )
    rows = _rows(result)
    bars = []
    for row in rows:
        percent = float(row.get("percent") or 0)
        bars.append(
            {
                "skill": row["skill"],
                "percent": percent,
                "height": round(CHART_HEIGHT * percent / 100, 1),
                "label": f"{percent:.0f}%" if row.get("percent") is not None else "-",
            }
        )
    writing = [
        {
            "question": fields.get(f"Writing_Question_{n}") or "",
            "answer": fields.get(f"Writing_Answer_{n}") or "",
        }
        for n in range(1, int(fields.get("Writing_Question_Count") or 0) + 1)
    ]
    certificate_url = None
    if record.get("certificate"):
        from gateway import certificates

        cert = repo.certificate(record["certificate"])
        if cert and cert.get("pdf_key") and not cert.get("revoked_at"):
            certificate_url = certificates.download_url(cert)
    outcome = record.get("outcome") or {}
    score = outcome.get("score-percent")
    environment = Environment(autoescape=True, trim_blocks=True)
    return environment.from_string(PAGE).render(
        name=record.get("full_name") or "Candidate",
        test_type=record.get("test_type"),
        date=record.get("date"),
        overall_level=fields.get("Overall_Level"),
        overall_cefr=fields.get("Overall_cefr") or outcome.get("cefr"),
        score=score,
        outcome=outcome,
        rows=rows,
        bars=bars,
        chart_height=CHART_HEIGHT,
        writing=writing,
        certificate_url=certificate_url,
    )
