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

import yaml

RUNS = 7
_BASELINE = """
import time
t = time.perf_counter()
import boto3
boto3.client("dynamodb")
print(time.perf_counter() - t)
"""
_HANDLER = """
import importlib.util, sys, time
path, name = sys.argv[1], sys.argv[2]
t = time.perf_counter()
spec = importlib.util.spec_from_file_location(name, path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(time.perf_counter() - t)
if len(sys.argv) > 3:  # and the client its first request needs
    from gateway import aws
    aws.dynamodb()
    print(time.perf_counter() - t)
"""


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_multi_constructor("!", lambda loader, suffix, node: None)


def handlers() -> dict[str, str]:
    with open("template.yaml") as fh:
        template = yaml.load(fh, Loader=_Loader)
    found = {}
    for name, res in template["Resources"].items():
        if res.get("Type") == "AWS::Serverless::Function":
            props = res["Properties"]
            module = props["Handler"].rsplit(".", 1)[0]
            found[name] = os.path.join(props["CodeUri"], module.replace(".", "/") + ".py")
    return found


def _sample(code: str, *args: str) -> float:
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_TRACE_DISABLED": "true"}
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def _median(code: str, *args: str) -> float:
    return statistics.median(_sample(code, *args) for _ in range(RUNS))


def run() -> dict[str, object]:
    baseline = _median(_BASELINE)
    handlers_out: dict[str, object] = {}
    for name, path in handlers().items():
        imported = _median(_HANDLER, path, f"fn_{name}")
        with_client = _median(_HANDLER, path, f"fn_{name}", "client")
        handlers_out[name] = {
            "import_ms": round(imported * 1000, 1),
            "ratio": round(imported / baseline, 2),
            "goal": "<= 1.3",
            # What a cold start really pays before the first request's own work: import and the client.
            "import_and_dynamodb_client_ms": round(with_client * 1000, 1),
            "import_and_client_ratio": round(with_client / baseline, 2),
        }
    return {"baseline_boto3_client_ms": round(baseline * 1000, 1), "runs": RUNS, "handlers": handlers_out}


if __name__ == "__main__":
    from bench.output import emit

    emit(run())
