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


def run() -> dict[str, object]:
    baseline = statistics.median(_sample(_BASELINE) for _ in range(RUNS))
    result: dict[str, object] = {
        "baseline_boto3_client_ms": round(baseline * 1000, 1),
        "runs": RUNS,
        "handlers": {},
    }
    for name, path in handlers().items():
        seconds = statistics.median(_sample(_HANDLER, path, f"fn_{name}") for _ in range(RUNS))
        result["handlers"][name] = {  # type: ignore[index]
            "import_ms": round(seconds * 1000, 1),
            "ratio": round(seconds / baseline, 2),
            "goal": "<= 1.3",
        }
    return result


if __name__ == "__main__":
    from bench.output import emit

    emit(run())
