"""Configuration: one pydantic model read from the environment once per cold start."""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, Field


class Settings(BaseModel):
    directory_table: str = Field(min_length=1)
    candidates_table: str = Field(min_length=1)
    app_secret_id: str = Field(min_length=1)
    inventory_table: str = ""
    idempotency_table: str = ""
    sender_email: str = "no-reply@assessment-gateway.example"
    events_queue_url: str = ""
    engine_secret_id: str = ""
    deliveries_table: str = ""
    delivery_queue_url: str = ""
    delivery_dead_letter_queue_url: str = ""
    # Seconds between delivery attempts, comma-separated (default: about three days, see deliveries.py).
    delivery_retry_schedule: str = ""
    # A delivery attempt succeeds on a 2xx within this many seconds.
    delivery_timeout_seconds: float = 10.0
    # Inventory imports (issue 4): the bucket uploads land in, the continuation queue, and how many rows
    # one invocation may read before handing over (0: as many as its time allows).
    imports_bucket: str = ""
    import_queue_url: str = ""
    import_segment_rows: int = 0
    test_engine_base_url: str = "https://engine.example.com"
    # Certification (issue 8): the queue certificates are issued from, and this API's public base URL for
    # links it prints (verification URL, score report); empty: taken from the request that took the result.
    certificate_queue_url: str = ""
    public_base_url: str = ""
    stage: str = "dev"
    # How long an authenticated key is trusted without reading it again (revocation delay).
    key_cache_seconds: float = 60.0
    # Signed requests: how far x-timestamp may be from now (seconds), either way.
    signature_window_seconds: int = 300
    # Largest request body the API accepts (bytes); larger bodies get 413.
    max_body_bytes: int = 64 * 1024
    # Days a result version is kept before DynamoDB's TTL removes it (0: for ever). Template parameter
    # ResultRetentionDays -> RESULT_RETENTION_DAYS.
    result_retention_days: int = Field(default=730, ge=0)
    local_stack: bool = False
    # E-mail notifications (issue 6): settings / suppressions / sent records, the mailer's queue and the
    # SES configuration set whose events (send, bounce, complaint) come back through SNS.
    notifications_table: str = ""
    notifications_queue_url: str = ""
    mail_configuration_set: str = ""

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        return cls(
            directory_table=env.get("DIRECTORY_TABLE", ""),
            candidates_table=env.get("CANDIDATES_TABLE", ""),
            app_secret_id=env.get("APP_SECRET_ID", ""),
            inventory_table=env.get("INVENTORY_TABLE", ""),
            idempotency_table=env.get("IDEMPOTENCY_TABLE", ""),
            sender_email=env.get("SENDER_EMAIL", "no-reply@assessment-gateway.example"),
            events_queue_url=env.get("EVENTS_QUEUE_URL", ""),
            engine_secret_id=env.get("ENGINE_SECRET_ID", ""),
            deliveries_table=env.get("DELIVERIES_TABLE", ""),
            delivery_queue_url=env.get("DELIVERY_QUEUE_URL", ""),
            delivery_dead_letter_queue_url=env.get("DELIVERY_DEAD_LETTER_QUEUE_URL", ""),
            delivery_retry_schedule=env.get("DELIVERY_RETRY_SCHEDULE", ""),
            delivery_timeout_seconds=float(env.get("DELIVERY_TIMEOUT_SECONDS", "10")),
            imports_bucket=env.get("IMPORTS_BUCKET", ""),
            import_queue_url=env.get("IMPORT_QUEUE_URL", ""),
            import_segment_rows=int(env.get("IMPORT_SEGMENT_ROWS", "0") or 0),
            test_engine_base_url=env.get("TEST_ENGINE_BASE_URL", "https://engine.example.com"),
            certificate_queue_url=env.get("CERTIFICATE_QUEUE_URL", ""),
            public_base_url=env.get("PUBLIC_BASE_URL", ""),
            stage=env.get("STAGE", "dev"),
            key_cache_seconds=float(env.get("KEY_CACHE_SECONDS", "60")),
            result_retention_days=int(env.get("RESULT_RETENTION_DAYS", "730") or 0),
            local_stack=env.get("LOCAL_STACK", "").lower() == "true",
            notifications_table=env.get("NOTIFICATIONS_TABLE", ""),
            notifications_queue_url=env.get("NOTIFICATIONS_QUEUE_URL", ""),
            mail_configuration_set=env.get("MAIL_CONFIGURATION_SET", ""),
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()
