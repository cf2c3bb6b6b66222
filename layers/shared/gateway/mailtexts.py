"""Every e-mail the service sends, per language, in one place: subject, text and HTML as jinja2 templates.

Subjects and text bodies are rendered without escaping; HTML bodies with autoescape on, so a candidate
named `<script>` is shown, never run. A template sees:

- `unit`: the organisation unit's `name` and `id`;
- `candidate`: `full_name` and `email` of the recipient candidate (empty for admin mail);
- the event's own fields (below, per template).

`render(name, language, context)` -> Rendered(subject, text, html). `SAMPLES` are the preview's defaults.
To add a language, add a dict to TEXTS with the same keys; settings accept the languages present here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

# Template names (also the settings' event names and the preview route's {event}).
INVITATION = "invitation"
TEST_ID = "test-id"
TEST_COMPLETED = "test-completed"
TEST_COMPLETED_ADMIN = "test-completed-admin"
CERTIFICATION_FAILED = "certification-failed"
ASSIGNMENT_EXPIRED = "assignment-expired"
LOW_STOCK = "low-stock"
ENDPOINT_DISABLED = "endpoint-disabled"
NAMES = (
    INVITATION,
    TEST_ID,
    TEST_COMPLETED,
    TEST_COMPLETED_ADMIN,
    CERTIFICATION_FAILED,
    ASSIGNMENT_EXPIRED,
    LOW_STOCK,
    ENDPOINT_DISABLED,
)
# Mail to candidates (the unit's "notify clients" switch and per-event switches apply); the others go to
# the unit's admins.
CLIENT_TEMPLATES = (INVITATION, TEST_ID, TEST_COMPLETED, CERTIFICATION_FAILED, ASSIGNMENT_EXPIRED)

_LAYOUT = (
    '<!doctype html><html><body style="font-family:Arial,Helvetica,sans-serif;font-size:15px;color:#222">'
    "{% block body %}{% endblock %}"
    '<p style="color:#777;font-size:12px">{{ unit.name }}</p></body></html>'
)

EN: dict[str, dict[str, str]] = {
    INVITATION: {
        "subject": "{{ unit.name }}: your test invitation",
        "text": (
            "Hello {{ candidate.full_name }},\n\n{{ unit.name }} has registered you for a test.\n\n"
            "Start it here: {{ take_test_url }}\n\nThe link is personal: do not share it.\n\nGood luck!\n"
        ),
        "html": (
            '{% extends "layout.html" %}{% block body %}<p>Hello {{ candidate.full_name }},</p>'
            "<p><strong>{{ unit.name }}</strong> has registered you for a test.</p>"
            '<p><a href="{{ take_test_url }}">Start the test</a></p>'
            "<p>The link is personal: do not share it.</p><p>Good luck!</p>{% endblock %}"
        ),
    },
    # The STX e-mail (iTEP seed): the test ID, its password and how to start.
    TEST_ID: {
        "subject": "Your {{ test_type }} test ID",
        "text": (
            "Hello,\n\nYou have been given a {{ test_type }} test.\n\n"
            "Test ID:  {{ test_id }}\nPassword: {{ password }}\n\n"
            "To start, open {{ start_url }} and sign in with the test ID and password above. Use a computer "
            "with a working microphone and speakers, and allow about two hours.\n\nGood luck!\n"
        ),
        "html": (
            '{% extends "layout.html" %}{% block body %}<p>Hello,</p><p>You have been given a '
            "<strong>{{ test_type }}</strong> test.</p>"
            "<table><tr><td>Test ID</td><td><strong>{{ test_id }}</strong></td></tr>"
            "<tr><td>Password</td><td><strong>{{ password }}</strong></td></tr></table>"
            '<p>To start, open <a href="{{ start_url }}">{{ start_url }}</a> '
            "and sign in with the test ID and "
            "password above. Use a computer with a working microphone and speakers, and allow about two "
            "hours.</p><p>Good luck!</p>{% endblock %}"
        ),
    },
    TEST_COMPLETED: {
        "subject": "{{ unit.name }}: you have completed your test",
        "text": (
            "Hello {{ candidate.full_name }},\n\nThank you for completing your {{ test_type or 'test' }}"
            "{% if completed_on %} on {{ completed_on }}{% endif %}.\n"
            "{% if score is not none %}\nYour score: {{ score }}{% if total is not none %} of {{ total }}"
            "{% endif %}\n{% endif %}"
            "{% if report_url %}\nYour report: {{ report_url }}\n{% endif %}"
            "\n{{ unit.name }} will be in touch about the next steps.\n"
        ),
        "html": (
            '{% extends "layout.html" %}{% block body %}<p>Hello {{ candidate.full_name }},</p>'
            "<p>Thank you for completing your {{ test_type or 'test' }}"
            "{% if completed_on %} on {{ completed_on }}{% endif %}.</p>"
            "{% if score is not none %}<p>Your score: <strong>{{ score }}</strong>"
            "{% if total is not none %} of {{ total }}{% endif %}</p>{% endif %}"
            '{% if report_url %}<p><a href="{{ report_url }}">Your report</a></p>{% endif %}'
            "<p>{{ unit.name }} will be in touch about the next steps.</p>{% endblock %}"
        ),
    },
    TEST_COMPLETED_ADMIN: {
        "subject": "{{ unit.name }}: a candidate completed a test",
        "text": (
            "Hello,\n\n{{ candidate.full_name }} <{{ candidate.email }}> completed "
            "{{ test_type or 'a test' }}{% if completed_on %} on {{ completed_on }}{% endif %}."
            "{% if score is not none %}\nScore: {{ score }}"
            "{% if total is not none %} of {{ total }}{% endif %}"
            "{% endif %}\n\nYou receive this because {{ unit.name }} asked for completion e-mails.\n"
        ),
        "html": (
            '{% extends "layout.html" %}{% block body %}<p>Hello,</p><p>{{ candidate.full_name }} '
            "&lt;{{ candidate.email }}&gt; completed {{ test_type or 'a test' }}"
            "{% if completed_on %} on {{ completed_on }}{% endif %}.</p>"
            "{% if score is not none %}<p>Score: <strong>{{ score }}</strong>"
            "{% if total is not none %} of {{ total }}{% endif %}</p>{% endif %}"
            "<p>You receive this because {{ unit.name }} asked for completion e-mails.</p>{% endblock %}"
        ),
    },
    CERTIFICATION_FAILED: {
        "subject": "{{ unit.name }}: your {{ test_type }} {{ level }} certification test",
        "text": (
            "Hello {{ candidate.full_name }},\n\nYou did not pass the {{ test_type }} {{ level }} "
            "certification test this time.\n"
            "{% if cant_do %}\nAreas to improve:\n{% for line in cant_do %}- {{ line }}\n{% endfor %}"
            "{% endif %}"
            "{% if review %}\nReview before your next attempt:\n{% for line in review %}- {{ line }}\n"
            "{% endfor %}{% endif %}"
            "\nYou can take the test again once you have reviewed these areas.\n"
        ),
        "html": (
            '{% extends "layout.html" %}{% block body %}<p>Hello {{ candidate.full_name }},</p>'
            "<p>You did not pass the <strong>{{ test_type }} {{ level }}</strong> certification test this "
            "time.</p>"
            "{% if cant_do %}<p>Areas to improve:</p><ul>{% for line in cant_do %}<li>{{ line }}</li>"
            "{% endfor %}</ul>{% endif %}"
            "{% if review %}<p>Review before your next attempt:</p><ul>{% for line in review %}"
            "<li>{{ line }}</li>{% endfor %}</ul>{% endif %}"
            "<p>You can take the test again once you have reviewed these areas.</p>{% endblock %}"
        ),
    },
    ASSIGNMENT_EXPIRED: {
        "subject": "{{ unit.name }}: your {{ test_type }} test has expired",
        "text": (
            "Hello {{ candidate.full_name or '' }},\n\n"
            "The {{ test_type }} test {{ test_id }} assigned to you "
            "expired{% if expire %} on {{ expire }}{% endif %} before it was started, and has been "
            "withdrawn.\n\nAsk {{ unit.name }} for a new test if you still need one.\n"
        ),
        "html": (
            '{% extends "layout.html" %}{% block body %}<p>Hello {{ candidate.full_name or "" }},</p>'
            "<p>The {{ test_type }} test <strong>{{ test_id }}</strong> assigned to you expired"
            "{% if expire %} on {{ expire }}{% endif %} before it was started, and has been withdrawn.</p>"
            "<p>Ask {{ unit.name }} for a new test if you still need one.</p>{% endblock %}"
        ),
    },
    # The low-stock warning (provisioning issue) to the addresses of the threshold.
    LOW_STOCK: {
        "subject": "Low stock: {{ available }} {{ test_type }} test IDs left in {{ unit.name }}",
        "text": (
            "Hello,\n\n{{ unit.name }} has {{ available }} available {{ test_type }} test IDs, below the "
            "threshold of {{ threshold }} you set.\n\n"
            "Add test IDs (POST /v1/test-ids or an import) to refill "
            "the stock. You will not be warned again until the stock is back at or above the threshold.\n"
        ),
        "html": (
            '{% extends "layout.html" %}{% block body %}<p>Hello,</p><p><strong>{{ unit.name }}</strong> has '
            "<strong>{{ available }}</strong> available {{ test_type }} test IDs, below the threshold of "
            "{{ threshold }} you set.</p>"
            "<p>Add test IDs (POST /v1/test-ids or an import) to refill the stock. "
            "You will not be warned again until the stock is back at or above the threshold.</p>"
            "{% endblock %}"
        ),
    },
    # To the unit's admin-emails when a track (or a V2 callback) answered 410 Gone.
    ENDPOINT_DISABLED: {
        "subject": (
            "{{ unit.name }}: {{ endpoint }} answered 410 Gone{% if track or invitation %} and is disabled"
            "{% endif %}"
        ),
        "text": (
            "Hello,\n\n{{ url }} ({{ endpoint }}) answered 410 Gone to a delivery from {{ unit.name }}"
            "{% if track %}, so track {{ track }} is disabled: nothing more is sent to it.\n\n"
            "Once the endpoint works again, save the track again (POST /v1/tracks) to enable it, and "
            "replay what it missed (POST /v1/deliveries/replay).\n"
            "{% elif invitation %}, so the callback of invitation {{ invitation }} is disabled: nothing "
            "more is sent to it.\n\nTo enable it, register the candidate again with another callbackURL "
            "(POST /v2/tests/{testId}/register), and replay what it missed (POST /v1/deliveries/replay, "
            "status skipped).\n"
            "{% else %}, so delivery {{ delivery }} was stopped.\n\n"
            "Once the endpoint works again, replay it (POST /v1/deliveries/{{ delivery }}/replay).\n"
            "{% endif %}"
        ),
        "html": (
            '{% extends "layout.html" %}{% block body %}<p>Hello,</p><p><strong>{{ url }}</strong> '
            "({{ endpoint }}) answered 410 Gone to a delivery from {{ unit.name }}"
            "{% if track %}, so track <strong>{{ track }}</strong> is disabled: nothing more is sent to it."
            "</p><p>Once the endpoint works again, save the track again (POST /v1/tracks) to enable it, "
            "and replay what it missed (POST /v1/deliveries/replay).</p>"
            "{% elif invitation %}, so the callback of invitation <strong>{{ invitation }}</strong> is "
            "disabled: nothing more is sent to it.</p><p>To enable it, register the candidate again with "
            "another callbackURL (POST /v2/tests/{testId}/register), and replay what it missed "
            "(POST /v1/deliveries/replay, status skipped).</p>"
            "{% else %}, so delivery {{ delivery }} was stopped.</p><p>Once the endpoint works again, "
            "replay it (POST /v1/deliveries/{{ delivery }}/replay).</p>{% endif %}{% endblock %}"
        ),
    },
}

ES: dict[str, dict[str, str]] = {
    INVITATION: {
        "subject": "{{ unit.name }}: su invitación a la prueba",
        "text": (
            "Hola {{ candidate.full_name }}:\n\n{{ unit.name }} le ha inscrito en una prueba.\n\n"
            "Empiece aquí: {{ take_test_url }}\n\nEl enlace es personal: no lo comparta.\n\n¡Suerte!\n"
        ),
        "html": (
            '{% extends "layout.html" %}{% block body %}<p>Hola {{ candidate.full_name }}:</p>'
            "<p><strong>{{ unit.name }}</strong> le ha inscrito en una prueba.</p>"
            '<p><a href="{{ take_test_url }}">Empezar la prueba</a></p>'
            "<p>El enlace es personal: no lo comparta.</p><p>¡Suerte!</p>{% endblock %}"
        ),
    },
    TEST_ID: {
        "subject": "Su ID de prueba {{ test_type }}",
        "text": (
            "Hola:\n\nSe le ha asignado una prueba {{ test_type }}.\n\n"
            "ID de prueba: {{ test_id }}\nContraseña:   {{ password }}\n\n"
            "Para empezar, abra {{ start_url }} e inicie sesión con el ID y la contraseña. Use un ordenador "
            "con micrófono y altavoces, y reserve unas dos horas.\n\n¡Suerte!\n"
        ),
        "html": (
            '{% extends "layout.html" %}{% block body %}<p>Hola:</p><p>Se le ha asignado una prueba '
            "<strong>{{ test_type }}</strong>.</p>"
            "<table><tr><td>ID de prueba</td><td><strong>{{ test_id }}</strong></td></tr>"
            "<tr><td>Contraseña</td><td><strong>{{ password }}</strong></td></tr></table>"
            '<p>Para empezar, abra <a href="{{ start_url }}">{{ start_url }}</a> e inicie sesión con el ID '
            "y la contraseña. Use un ordenador con micrófono y altavoces, y reserve unas dos horas.</p>"
            "<p>¡Suerte!</p>{% endblock %}"
        ),
    },
    TEST_COMPLETED: {
        "subject": "{{ unit.name }}: ha completado su prueba",
        "text": (
            "Hola {{ candidate.full_name }}:\n\nGracias por completar su {{ test_type or 'prueba' }}"
            "{% if completed_on %} el {{ completed_on }}{% endif %}.\n"
            "{% if score is not none %}\nSu puntuación: {{ score }}{% if total is not none %} de {{ total }}"
            "{% endif %}\n{% endif %}"
            "{% if report_url %}\nSu informe: {{ report_url }}\n{% endif %}"
            "\n{{ unit.name }} se pondrá en contacto con usted.\n"
        ),
        "html": (
            '{% extends "layout.html" %}{% block body %}<p>Hola {{ candidate.full_name }}:</p>'
            "<p>Gracias por completar su {{ test_type or 'prueba' }}"
            "{% if completed_on %} el {{ completed_on }}{% endif %}.</p>"
            "{% if score is not none %}<p>Su puntuación: <strong>{{ score }}</strong>"
            "{% if total is not none %} de {{ total }}{% endif %}</p>{% endif %}"
            '{% if report_url %}<p><a href="{{ report_url }}">Su informe</a></p>{% endif %}'
            "<p>{{ unit.name }} se pondrá en contacto con usted.</p>{% endblock %}"
        ),
    },
    TEST_COMPLETED_ADMIN: {
        "subject": "{{ unit.name }}: un candidato ha completado una prueba",
        "text": (
            "Hola:\n\n{{ candidate.full_name }} <{{ candidate.email }}> ha completado "
            "{{ test_type or 'una prueba' }}{% if completed_on %} el {{ completed_on }}{% endif %}."
            "{% if score is not none %}\nPuntuación: {{ score }}"
            "{% if total is not none %} de {{ total }}{% endif %}{% endif %}"
            "\n\nRecibe este mensaje porque {{ unit.name }} pidió avisos de pruebas completadas.\n"
        ),
        "html": (
            '{% extends "layout.html" %}{% block body %}<p>Hola:</p><p>{{ candidate.full_name }} '
            "&lt;{{ candidate.email }}&gt; ha completado {{ test_type or 'una prueba' }}"
            "{% if completed_on %} el {{ completed_on }}{% endif %}.</p>"
            "{% if score is not none %}<p>Puntuación: <strong>{{ score }}</strong>"
            "{% if total is not none %} de {{ total }}{% endif %}</p>{% endif %}"
            "<p>Recibe este mensaje porque {{ unit.name }} pidió avisos de pruebas completadas.</p>"
            "{% endblock %}"
        ),
    },
    CERTIFICATION_FAILED: {
        "subject": "{{ unit.name }}: su prueba de certificación {{ test_type }} {{ level }}",
        "text": (
            "Hola {{ candidate.full_name }}:\n\nEsta vez no ha superado la prueba de certificación "
            "{{ test_type }} {{ level }}.\n"
            "{% if cant_do %}\nÁreas de mejora:\n{% for line in cant_do %}- {{ line }}\n{% endfor %}"
            "{% endif %}"
            "{% if review %}\nRepase antes del próximo intento:\n{% for line in review %}- {{ line }}\n"
            "{% endfor %}{% endif %}"
            "\nPodrá repetir la prueba cuando haya repasado estas áreas.\n"
        ),
        "html": (
            '{% extends "layout.html" %}{% block body %}<p>Hola {{ candidate.full_name }}:</p>'
            "<p>Esta vez no ha superado la prueba de certificación <strong>{{ test_type }} {{ level }}"
            "</strong>.</p>"
            "{% if cant_do %}<p>Áreas de mejora:</p><ul>{% for line in cant_do %}<li>{{ line }}</li>"
            "{% endfor %}</ul>{% endif %}"
            "{% if review %}<p>Repase antes del próximo intento:</p><ul>{% for line in review %}"
            "<li>{{ line }}</li>{% endfor %}</ul>{% endif %}"
            "<p>Podrá repetir la prueba cuando haya repasado estas áreas.</p>{% endblock %}"
        ),
    },
    ASSIGNMENT_EXPIRED: {
        "subject": "{{ unit.name }}: su prueba {{ test_type }} ha caducado",
        "text": (
            "Hola {{ candidate.full_name or '' }}:\n\n"
            "La prueba {{ test_type }} {{ test_id }} que se le asignó caducó"
            "{% if expire %} el {{ expire }}{% endif %} sin haberse empezado, y se ha retirado.\n\n"
            "Pida una nueva a {{ unit.name }} si todavía la necesita.\n"
        ),
        "html": (
            '{% extends "layout.html" %}{% block body %}<p>Hola {{ candidate.full_name or "" }}:</p>'
            "<p>La prueba {{ test_type }} <strong>{{ test_id }}</strong> que se le asignó caducó"
            "{% if expire %} el {{ expire }}{% endif %} sin haberse empezado, y se ha retirado.</p>"
            "<p>Pida una nueva a {{ unit.name }} si todavía la necesita.</p>{% endblock %}"
        ),
    },
    LOW_STOCK: {
        "subject": (
            "Existencias bajas: quedan {{ available }} IDs de prueba {{ test_type }} en {{ unit.name }}"
        ),
        "text": (
            "Hola:\n\n{{ unit.name }} tiene {{ available }} IDs de prueba {{ test_type }} disponibles, por "
            "debajo del umbral de {{ threshold }} que fijó.\n\n"
            "Añada IDs de prueba (POST /v1/test-ids o una importación). No se le volverá a avisar hasta que "
            "las existencias vuelvan a alcanzar el umbral.\n"
        ),
        "html": (
            '{% extends "layout.html" %}{% block body %}<p>Hola:</p>'
            "<p><strong>{{ unit.name }}</strong> tiene "
            "<strong>{{ available }}</strong> IDs de prueba {{ test_type }} disponibles, "
            "por debajo del umbral "
            "de {{ threshold }} que fijó.</p>"
            "<p>Añada IDs de prueba (POST /v1/test-ids o una importación). No se le volverá a avisar hasta "
            "que las existencias vuelvan a alcanzar el umbral.</p>{% endblock %}"
        ),
    },
    ENDPOINT_DISABLED: {
        "subject": (
            "{{ unit.name }}: {{ endpoint }} respondió 410 Gone{% if track or invitation %} y está "
            "desactivado{% endif %}"
        ),
        "text": (
            "Hola:\n\n{{ url }} ({{ endpoint }}) respondió 410 Gone a un envío de {{ unit.name }}"
            "{% if track %}, así que el track {{ track }} está desactivado: ya no se le envía nada.\n\n"
            "Cuando el destino vuelva a funcionar, guarde de nuevo el track (POST /v1/tracks) para "
            "activarlo y reenvíe lo que no recibió (POST /v1/deliveries/replay).\n"
            "{% elif invitation %}, así que el callback de la invitación {{ invitation }} está desactivado: "
            "ya no se le envía nada.\n\nPara activarlo, registre de nuevo al candidato con otro callbackURL "
            "(POST /v2/tests/{testId}/register) y reenvíe lo que no recibió (POST /v1/deliveries/replay, "
            "status skipped).\n"
            "{% else %}, así que el envío {{ delivery }} se ha detenido.\n\n"
            "Cuando el destino vuelva a funcionar, reenvíelo (POST /v1/deliveries/{{ delivery }}/replay).\n"
            "{% endif %}"
        ),
        "html": (
            '{% extends "layout.html" %}{% block body %}<p>Hola:</p><p><strong>{{ url }}</strong> '
            "({{ endpoint }}) respondió 410 Gone a un envío de {{ unit.name }}"
            "{% if track %}, así que el track <strong>{{ track }}</strong> está desactivado: ya no se le "
            "envía nada.</p><p>Cuando el destino vuelva a funcionar, guarde de nuevo el track "
            "(POST /v1/tracks) para activarlo y reenvíe lo que no recibió (POST /v1/deliveries/replay).</p>"
            "{% elif invitation %}, así que el callback de la invitación <strong>{{ invitation }}</strong> "
            "está desactivado: ya no se le envía nada.</p><p>Para activarlo, registre de nuevo al candidato "
            "con otro callbackURL (POST /v2/tests/{testId}/register) y reenvíe lo que no recibió "
            "(POST /v1/deliveries/replay, status skipped).</p>"
            "{% else %}, así que el envío {{ delivery }} se ha detenido.</p><p>Cuando el destino vuelva a "
            "funcionar, reenvíelo (POST /v1/deliveries/{{ delivery }}/replay).</p>{% endif %}{% endblock %}"
        ),
    },
}

TEXTS: dict[str, dict[str, dict[str, str]]] = {"en": EN, "es": ES}
LANGUAGES = tuple(TEXTS)
DEFAULT_LANGUAGE = "en"

# Preview defaults: what each template shows when the caller gives no data of its own.
SAMPLES: dict[str, dict[str, Any]] = {
    INVITATION: {"take_test_url": "https://engine.example.com/take/SAMPLE-TOKEN"},
    TEST_ID: {
        "test_type": "Academic-Plus",
        "test_id": "3279B035APR",
        "password": "k9Qx7",
        "start_url": "https://engine.example.com",
    },
    TEST_COMPLETED: {
        "test_type": "Placement test",
        "completed_on": "2026-01-15",
        "score": 34,
        "total": 50,
        "report_url": "https://engine.example.com/report/SAMPLE",
    },
    TEST_COMPLETED_ADMIN: {
        "test_type": "Placement test",
        "completed_on": "2026-01-15",
        "score": 34,
        "total": 50,
    },
    CERTIFICATION_FAILED: {
        "test_type": "Academic",
        "level": "A2",
        "cant_do": ["Can understand the main points of short, simple announcements."],
        "review": ["Listening: Unit 4, Unit 6", "Reading: Unit 5"],
    },
    ASSIGNMENT_EXPIRED: {"test_type": "Academic-Plus", "test_id": "3279B035APR", "expire": "2026-01-31"},
    LOW_STOCK: {"test_type": "Academic-Plus", "available": 3, "threshold": 10},
    ENDPOINT_DISABLED: {
        "endpoint": "track:RC",
        "track": "RC",
        "invitation": None,  # a V2 callback's invitation id instead of a track
        "url": "https://results.example.com/itep",
        "delivery": "dlv_5f0c1e2d3b4a596877665544",
    },
}
SAMPLE_CANDIDATE = {"full_name": "Mary Poppins", "email": "mary.poppins@example.com"}


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


@lru_cache(maxsize=4)
def _environments(language: str) -> tuple[Any, Any]:
    from jinja2 import DictLoader, Environment, StrictUndefined

    texts = TEXTS[language]
    plain = {f"{name}.subject": t["subject"] for name, t in texts.items()}
    plain |= {f"{name}.text": t["text"] for name, t in texts.items()}
    html = {f"{name}.html": t["html"] for name, t in texts.items()} | {"layout.html": _LAYOUT}
    # Subjects and text bodies are plain text (no HTML to escape); the HTML environment escapes.
    text_env = Environment(
        loader=DictLoader(plain),
        autoescape=False,  # noqa: S701
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    html_env = Environment(loader=DictLoader(html), autoescape=True, undefined=StrictUndefined)
    return text_env, html_env


def render(name: str, language: str, context: dict[str, Any]) -> Rendered:
    """Subject, text and HTML of template `name` in `language` (falls back to English)."""
    language = language if language in TEXTS else DEFAULT_LANGUAGE
    text_env, html_env = _environments(language)
    values = {"candidate": {"full_name": "", "email": ""}} | SAMPLES_EMPTY.get(name, {}) | context
    subject = text_env.get_template(f"{name}.subject").render(values)
    return Rendered(
        subject=" ".join(subject.split()),  # one line, whatever the data held
        text=text_env.get_template(f"{name}.text").render(values),
        html=html_env.get_template(f"{name}.html").render(values),
    )


# Every variable a template reads, empty: optional data missing from an event renders as nothing.
SAMPLES_EMPTY: dict[str, dict[str, Any]] = {
    name: {key: ([] if isinstance(value, list) else None) for key, value in sample.items()}
    for name, sample in SAMPLES.items()
}
