"""Fixtures of the fleet tests: a force on real PostgreSQL and a real nats-server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.fleet import Force

pytestmark = pytest.mark.postgres


@pytest.fixture
def force(tmp_path: Path, pg_url: str) -> Iterator[Force]:
    f = Force(tmp_path, pg_url)
    yield f
    f.close()
