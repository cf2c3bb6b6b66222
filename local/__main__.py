"""``python -m local``: run the local stack until Ctrl-C (or SIGTERM).

Environment: ``PORT`` (default 3000), ``LOCAL_STATE_DIR`` (default ``<repo>/.local``),
``LOCAL_ADMIN_API_KEY`` (the admin key to create or reuse), ``MOTO_PORT`` (default: any free port).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from types import FrameType

from local.stack import DEFAULT_STATE_DIR, DEFAULT_TEMPLATE, LocalStack


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")))
    parser.add_argument("--moto-port", type=int, default=int(os.environ.get("MOTO_PORT", "0")))
    parser.add_argument(
        "--state-dir", type=Path, default=Path(os.environ.get("LOCAL_STATE_DIR", DEFAULT_STATE_DIR))
    )
    parser.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE)
    parser.add_argument(
        "--parameter-overrides",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="template parameter values, like sam's --parameter-overrides",
    )
    return parser.parse_args(argv)


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    parameters = dict(item.split("=", 1) for item in args.parameter_overrides)
    stack = LocalStack(
        port=args.port,
        moto_port=args.moto_port,
        state_dir=args.state_dir,
        template=args.template,
        parameters=parameters,
    )
    signal.signal(signal.SIGTERM, _terminate)
    try:
        stack.start()
        print(stack.banner(), flush=True)
        print("Ctrl-C to stop.", flush=True)
        stack.wait()
    except KeyboardInterrupt:
        print("\nStopping (saving state)...", flush=True)
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
