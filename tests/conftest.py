"""Settings every test process needs before the domain reads its configuration.

Integration and end-to-end fixtures override these with the names the template gives.
"""

import os

os.environ.setdefault("DIRECTORY_TABLE", "DirectoryTable")
os.environ.setdefault("CANDIDATES_TABLE", "CandidatesTable")
os.environ.setdefault("APP_SECRET_ID", "AppSecret")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "AssessmentGatewayTests")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
