"""Bundle sizes (layer and each function, unzipped and zipped, against Lambda's limits), the import-time
top 5 of the heaviest handler (`python -X importtime`), and what the X-Ray SDK would add to a cold start.

Builds the bundle first (`tools.bundle.build`, cached wheels: a few seconds after the first run).
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
from typing import Any

from bench import cold_start
from tools import bundle

RUNS = 5
_XRAY = """
import time
t = time.perf_counter()
from aws_lambda_powertools import Tracer
Tracer()
print(time.perf_counter() - t)
"""


def importtime_top(path: str, name: str, fn_env: dict[str, str], top: int = 5) -> list[dict[str, Any]]:
    """The `top` modules with the largest cumulative import time when `path` is imported."""
    env = {**os.environ, **fn_env, "AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_TRACE_DISABLED": "true"}
    code = (
        "import importlib.util, sys; s = importlib.util.spec_from_file_location(sys.argv[2], sys.argv[1]); "
        "m = importlib.util.module_from_spec(s); s.loader.exec_module(m)"
    )
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code, path, name], capture_output=True, text=True, env=env
    )
    rows = []
    for line in out.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if m:
            rows.append((int(m.group(2)), int(m.group(1)), len(m.group(3)), m.group(4)))
    # top-level imports (the least indented) carry their children's time: rank those
    min_indent = min(r[2] for r in rows)
    top_level = sorted((r for r in rows if r[2] == min_indent), reverse=True)[:top]
    return [
        {"module": r[3], "cumulative_ms": round(r[0] / 1000, 1), "self_ms": round(r[1] / 1000, 1)}
        for r in top_level
    ]


def run() -> dict[str, Any]:
    sizes = bundle.build()
    problems = bundle.over_limits(sizes)
    handlers = cold_start.handlers()
    import_ms = {
        name: cold_start._medians(cold_start._HANDLER, path, f"fn_{name}", env_extra=env)[0]
        for name, (path, env) in handlers.items()
    }
    heaviest = max(import_ms, key=lambda n: import_ms[n])
    baseline = cold_start._medians(cold_start._BASELINE)[0]
    xray_env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    xray = statistics.median(
        float(
            subprocess.run(
                [sys.executable, "-c", _XRAY], capture_output=True, text=True, env=xray_env, check=True
            ).stdout.split()[-1]
        )
        for _ in range(RUNS)
    )
    return {
        "sizes": sizes,
        "within_limits": not problems,
        "problems": problems,
        "heaviest_handler": {
            "function": heaviest,
            "import_ms": round(import_ms[heaviest] * 1000, 1),
            "importtime_top5": importtime_top(handlers[heaviest][0], f"fn_{heaviest}", handlers[heaviest][1]),
        },
        # Why API functions do not load the powertools Tracer: this, on top of their import time.
        "xray_sdk_import": {
            "tracer_import_and_init_ms": round(xray * 1000, 1),
            "ratio_to_boto3_client_baseline": round(xray / baseline, 2),
        },
    }


if __name__ == "__main__":
    from bench.output import emit

    emit(run())
