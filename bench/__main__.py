"""Runs every benchmark, each in its own interpreter, and prints one JSON document.

Also writes bench/results/latest.json. Run with `make bench`.
"""

from __future__ import annotations

import json
import os
import pathlib
import platform
import subprocess
import sys
import tempfile
import time

BENCHES = {
    "cold_start": "bench.cold_start",
    "bundle": "bench.bundle",
    "registration_dynamodb_calls": "bench.registration_calls",
    "fulfilment_race": "bench.fulfilment_race",
    "imports": "bench.imports",
    "expiry": "bench.expiry",
    "candidate_search": "bench.candidate_search",
    # 1,000 results by default (BENCH_FAULT_RESULTS); about three minutes on the 2-core machine.
    "delivery_faults": "bench.delivery_faults",
}


def _run(module: str) -> object:
    with tempfile.TemporaryDirectory() as tmp:
        result = pathlib.Path(tmp) / "result.json"
        out = subprocess.run(
            [sys.executable, "-m", module],
            capture_output=True,
            text=True,
            env={**os.environ, "BENCH_RESULT": str(result)},
        )
        if out.returncode != 0:
            sys.stderr.write(out.stderr[-5000:])
            raise SystemExit(f"{module} failed")
        return json.loads(result.read_text())


def main() -> int:
    started = time.time()
    results: dict[str, object] = {
        "command": "make bench",
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
    }
    for name, module in BENCHES.items():
        results[name] = _run(module)
    results["seconds"] = round(time.time() - started, 1)
    text = json.dumps(results, indent=2)
    print(text)
    out = pathlib.Path("bench/results")
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
