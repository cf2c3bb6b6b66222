"""The embedded local stack: moto's server with the template's resources and the API on localhost.

``python -m local`` runs it; tests and benchmarks use :class:`LocalStack`::

    from local import LocalStack

    with LocalStack(port=0, state_dir=tmp_path / ".local") as stack:
        ...

Importing :mod:`local.cfn` (template reading) does not import moto's server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from local.stack import LocalStack, LocalStackError

__all__ = ["LocalStack", "LocalStackError"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from local import stack

        return getattr(stack, name)
    raise AttributeError(f"module 'local' has no attribute {name!r}")
