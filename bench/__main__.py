"""Runs every benchmark and prints one JSON document."""

from __future__ import annotations

import json
import pathlib
import platform
import sys
import time

from bench import cold_start, registration_calls


def main() -> int:
    started = time.time()
    results = {
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": __import__("os").cpu_count(),
        },
        "cold_start": cold_start.run(),
        "registration_dynamodb_calls": registration_calls.run(),
    }
    results["seconds"] = round(time.time() - started, 1)
    text = json.dumps(results, indent=2)
    print(text)
    out = pathlib.Path("bench/results")
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
