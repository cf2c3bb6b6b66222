"""Wire formats of the notification routes (kebab-case, /v1)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from gateway.contracts import Kebab
from gateway.validation import Email


class SettingsRequest(Kebab):
    """Body of PUT /v1/notifications/settings. A field left out is left as it is; a field sent as null is
    removed from the unit, which then inherits it from its parent."""

    org_unit: str | None = Field(
        default=None, alias="org-unit", max_length=64, description="Unit to configure; default: the caller's."
    )
    notify_clients: bool | None = Field(
        default=None,
        alias="notify-clients",
        description="Send e-mail to candidates at all (eTest's flag for notifications to clients).",
    )
    events: dict[str, bool] | None = Field(
        default=None,
        description="Per candidate e-mail on or off: invitation, test-id, test-completed, "
        "certification-failed, assignment-expired.",
    )
    sender: Email | None = Field(default=None, description="From address (a verified SES identity).")
    reply_to: Email | None = Field(default=None, alias="reply-to", description="Reply-To address.")
    bcc: Email | None = Field(default=None, description="Archive address: a blind copy of every e-mail.")
    language: str | None = Field(default=None, max_length=8, description="Language of the e-mails (en, es).")
    admin_emails: list[Email] | None = Field(
        default=None, alias="admin-emails", max_length=20, description="The unit's admins' addresses."
    )
    admins_on_completed: bool | None = Field(
        default=None,
        alias="admins-on-completed",
        description="Also e-mail admin-emails when a candidate completes a test.",
    )


class SettingsView(Kebab):
    org_unit: str = Field(alias="org-unit")
    own: dict[str, Any] = Field(description="What this unit set itself.")
    effective: dict[str, Any] = Field(
        description="What applies: own values, else the nearest ancestor's, else defaults."
    )
    inherited_from: dict[str, str] = Field(
        alias="inherited-from", description="Per field, the unit it comes from ('default': nobody set it)."
    )


class PreviewRequest(Kebab):
    org_unit: str | None = Field(default=None, alias="org-unit")
    full_name: str | None = Field(default=None, alias="full-name", max_length=200)
    email: str | None = Field(default=None, max_length=254)
    language: str | None = None


class PreviewView(Kebab):
    event: str
    language: str
    org_unit: str = Field(alias="org-unit")
    subject: str
    text: str
    html: str


class EmailView(Kebab):
    mail_id: str = Field(alias="mail-id")
    email: str
    template: str = Field(description="Which e-mail: invitation, test-id, test-completed, ...")
    event_type: str = Field(alias="event-type")
    event_id: str = Field(alias="event-id")
    status: str = Field(description="sending | sent | suppressed | rejected")
    at: str = Field(description="When the mailer took it on.")
    message_id: str | None = Field(default=None, alias="message-id", description="SES's message id.")
    feedback: str | None = Field(default=None, description="bounce | complaint, when SES reported one.")
    error: str | None = Field(default=None, description="SES's refusal, for rejected e-mails.")


class EmailPage(Kebab):
    items: list[EmailView]
    next_cursor: str | None = Field(default=None, alias="next-cursor")


class SuppressionView(Kebab):
    email: str
    org_unit: str = Field(alias="org-unit")
    reason: str
    at: str
    bounce_type: str | None = Field(default=None, alias="bounce-type")


class SuppressionPage(Kebab):
    items: list[SuppressionView]
    next_cursor: str | None = Field(default=None, alias="next-cursor")
