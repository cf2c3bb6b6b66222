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


def _sample_both(code: str, *args: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the interpreter) of one fresh run of `code`."""
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_TRACE_DISABLED": "true"}
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=True
    )
    wall, cpu = out.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


def _sample(code: str, *args: str) -> float:
    return _sample_both(code, *args)[0]


def _medians(code: str, *args: str) -> tuple[float, float]:
    samples = [_sample_both(code, *args) for _ in range(RUNS)]
    return statistics.median(w for w, _ in samples), statistics.median(c for _, c in samples)


def run() -> dict[str, object]:
    baseline, baseline_cpu = _medians(_BASELINE)
    handlers_out: dict[str, object] = {}
    for name, path in handlers().items():
        imported, imported_cpu = _medians(_HANDLER, path, f"fn_{name}")
        with_client, _ = _medians(_HANDLER, path, f"fn_{name}", "client")
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
