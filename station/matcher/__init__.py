"""Register matching: normalisation, the fuzzy index, verdicts and bulk checks.

The index is imported on first use, not with the package: importing it loads numba, whose
cache directory :mod:`station.matcher.jit` must choose first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from station.matcher.index import RegisterIndex
    from station.matcher.records import RegisterRecord

__all__ = ["RegisterIndex", "RegisterRecord"]


def __getattr__(name: str) -> Any:
    if name == "RegisterIndex":
        from station.matcher.index import RegisterIndex

        return RegisterIndex
    if name == "RegisterRecord":
        from station.matcher.records import RegisterRecord

        return RegisterRecord
    raise AttributeError(name)
