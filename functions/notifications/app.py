"""Notifications API function: per-unit e-mail settings, template previews and suppressed addresses."""

from gateway.http.app import Api
from gateway.http.routes import notifications

api = Api(notifications.router)
lambda_handler = api.lambda_handler()
