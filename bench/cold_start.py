"""Cold-start import time of each handler module, divided by `import boto3; boto3.client("dynamodb")`.

Also reported: import plus creating the DynamoDB client the first request needs (the handlers create it
lazily), divided by the same baseline. Each sample is a fresh interpreter (so nothing is cached in
sys.modules); the figure is the median of
several runs, both measured in the same run on the same machine. Goal: ratio <= 1.3 for each handler.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from typing import Any

import yaml

RUNS = 7
_BASELINE = """
import time
t, c = time.perf_counter(), time.process_time()
import boto3
boto3.client("dynamodb")
print(time.perf_counter() - t, time.process_time() - c)
"""
_HANDLER = """
import importlib.util, sys, time
path, name = sys.argv[1], sys.argv[2]
t, c = time.perf_counter(), time.process_time()
spec = importlib.util.spec_from_file_location(name, path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
if len(sys.argv) > 3:  # and the client its first request needs
    from gateway import aws
    aws.dynamodb()
print(time.perf_counter() - t, time.process_time() - c)
"""


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_multi_constructor("!", lambda loader, suffix, node: None)


def _template() -> dict[str, Any]:
    with open("template.yaml") as fh:
        return dict(yaml.load(fh, Loader=_Loader))


def _literal(variables: dict[str, Any] | None) -> dict[str, str]:
    """The environment variables with literal values (references to resources are left out)."""
    return {k: str(v) for k, v in (variables or {}).items() if isinstance(v, str | int | float | bool)}


def handlers() -> dict[str, tuple[str, dict[str, str]]]:
    """Each function's handler file and the literal environment Lambda gives it (Globals, then its own)."""
    template = _template()
    shared = _literal(template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables"))
    found = {}
    for name, res in template["Resources"].items():
        if res.get("Type") == "AWS::Serverless::Function":
            props = res["Properties"]
            module = props["Handler"].rsplit(".", 1)[0]
            own = _literal(props.get("Environment", {}).get("Variables"))
            found[name] = (
                os.path.join(props["CodeUri"], module.replace(".", "/") + ".py"),
                {**shared, **own},
            )
    return found


def _sample_both(code: str, *args: str, env_extra: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the interpreter) of one fresh run of `code`."""
    env = {
        **os.environ,
        **(env_extra or {}),
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=True
    )
    wall, cpu = out.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


def _medians(code: str, *args: str, env_extra: dict[str, str] | None = None) -> tuple[float, float]:
    samples = [_sample_both(code, *args, env_extra=env_extra) for _ in range(RUNS)]
    return statistics.median(w for w, _ in samples), statistics.median(c for _, c in samples)


def run() -> dict[str, object]:
    baseline, baseline_cpu = _medians(_BASELINE)
    handlers_out: dict[str, object] = {}
    for name, (path, env) in handlers().items():
        imported, imported_cpu = _medians(_HANDLER, path, f"fn_{name}", env_extra=env)
        with_client, _ = _medians(_HANDLER, path, f"fn_{name}", "client", env_extra=env)
        handlers_out[name] = {
            "import_ms": round(imported * 1000, 1),
            "ratio": round(imported / baseline, 2),
            "goal": "<= 1.3",
            # CPU time of the same runs: far less sensitive to other work on a shared machine than wall time.
            "import_cpu_ms": round(imported_cpu * 1000, 1),
            "cpu_ratio": round(imported_cpu / baseline_cpu, 2),
            # What a cold start really pays before the first request's own work: import and the client.
            "import_and_dynamodb_client_ms": round(with_client * 1000, 1),
            "import_and_client_ratio": round(with_client / baseline, 2),
        }
    return {
        "baseline_boto3_client_ms": round(baseline * 1000, 1),
        "baseline_boto3_client_cpu_ms": round(baseline_cpu * 1000, 1),
        "runs": RUNS,
        "handlers": handlers_out,
    }


if __name__ == "__main__":
    from bench.output import emit

    emit(run())
