"""Where a benchmark puts its figures: the file `make bench` asks for (BENCH_RESULT), else stdout.

The services under test print their own lines (EMF metrics), so figures travel in a file of their own.
"""

from __future__ import annotations

import json
import os
from typing import Any


def emit(result: Any) -> None:
    target = os.environ.get("BENCH_RESULT")
    if target:
        with open(target, "w") as fh:
            json.dump(result, fh)
    else:
        print(json.dumps(result, indent=2))
