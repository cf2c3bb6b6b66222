"""Candidates API function: search, profile, update, transfer and the XLSX results reports.

X-Ray tracing comes from the function's `Tracing: Active` (template.yaml); the powertools Tracer is left
out of API functions because importing the X-Ray SDK alone adds ~120 ms to every cold start. openpyxl is
imported only when a report is written.
"""

from gateway.http.app import Api
from gateway.http.routes import candidates

api = Api(candidates.router)
lambda_handler = api.lambda_handler()
