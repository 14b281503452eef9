"""Register matching: normalisation, the fuzzy index, verdicts and bulk checks."""

from station.matcher.index import RegisterIndex
from station.matcher.records import RegisterRecord

__all__ = ["RegisterIndex", "RegisterRecord"]
