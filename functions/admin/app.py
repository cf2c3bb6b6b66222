"""Admin API function: organisation units and API keys.

X-Ray tracing comes from the function's `Tracing: Active` (template.yaml); the powertools Tracer is left
out of API functions because importing the X-Ray SDK alone adds ~120 ms to every cold start.

First deployment: invoked directly (never through API Gateway, whose events always carry `httpMethod`)
with `{"bootstrap": {"name": "<root unit name>"}}`, it creates the root unit if missing and a new admin key
for it, returned once (README "Deploying to AWS"). Only principals allowed lambda:InvokeFunction can.
"""

from typing import Any

from gateway import bootstrap
from gateway.http.app import Api
from gateway.http.routes import admin

api = Api(admin.router)
api_handler = api.lambda_handler()


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if "bootstrap" in event and "httpMethod" not in event:
        return bootstrap.seed_root(name=str(event["bootstrap"].get("name") or "Root"))
    return api_handler(event, context)
