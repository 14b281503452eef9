"""Shared fixtures: real SQLite and PostgreSQL databases, settings in a temp data dir."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from station.db.engine import Database
from station.db.migrate import upgrade
from station.settings import StationSettings

PG_ADMIN_URL = os.environ.get(
    "STATION_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
#: one kernel cache for the whole run (and its subprocesses), filled before any test starts,
#: like `station warm` at install: no test waits on the compiler
KERNEL_CACHE = Path(__file__).resolve().parents[1] / "var" / "cache" / "kernels"
os.environ.setdefault("NUMBA_CACHE_DIR", str(KERNEL_CACHE))


def pytest_configure(config: pytest.Config) -> None:
    """Compile the matcher's kernels once, in the controlling process, before the workers."""
    if hasattr(config, "workerinput"):
        return
    from station.matcher.jit import warm

    warm()


def _pg_available() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3) as conn:
            conn.execute("select 1")
        return None
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--controller",
        choices=("python", "firmware", "both"),
        default=os.environ.get("STATION_TEST_CONTROLLER", "both"),
        help="simulated lamp controller(s) for tests marked `controllers` (default: both)",
    )


def xdist_scope(nodeid: str) -> str:
    """The unit of work pytest-xdist hands to one worker, from a test's node id.

    Every test that runs the firmware in simavr in real time (the `firmware` parameter of
    `controllers` tests) is one unit: simulators on both workers of a two-core machine would
    starve each other and the hosts talking to them. A browser module is one unit too, so its
    module-scoped station server starts once rather than once per worker. Every other test
    is its own unit (plain load balancing).
    """
    path, _, rest = nodeid.partition("::")
    params = rest.partition("[")[2].rstrip("]")
    if "firmware" in params.split("-"):
        return "firmware"
    if path.startswith("tests/ui/"):
        return path
    return nodeid


try:
    from xdist.scheduler import LoadScopeScheduling
except ImportError:  # pragma: no cover - the dev extra installs pytest-xdist
    pass
else:

    class _StationScheduling(LoadScopeScheduling):
        """Load balancing by `xdist_scope` (pytest 9.2 ignores xdist's own `xdist_group`
        rewrite of node ids, so `--dist loadgroup` no longer grouped anything)."""

        def _split_scope(self, nodeid: str) -> str:
            return xdist_scope(nodeid)

    @pytest.hookimpl(tryfirst=True)
    def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
        if config.getvalue("dist") == "no":
            return None
        return _StationScheduling(config, log)  # type: ignore[arg-type]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests marked `controllers` run once per simulated lamp controller."""
    if metafunc.definition.get_closest_marker("controllers") is None:
        return
    choice = metafunc.config.getoption("--controller")
    kinds = ["python", "firmware"] if choice == "both" else [choice]
    metafunc.parametrize(
        "sim_controller",
        kinds,
        indirect=True,
        ids=kinds,
    )


@pytest.fixture(autouse=True)
def sim_controller(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """The lamp controller every SimStation of this test simulates (None: not parametrised).

    The firmware needs `make -C firmware sim` beforehand (scripts/test.sh and CI do it); if it
    is missing the test fails under CI=true and is skipped elsewhere.
    """
    kind: str | None = getattr(request, "param", None)
    if kind is None:
        yield None
        return
    from hw_sim.firmware import CONTROLLER_ENV, available

    problem = available([kind])[kind]
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but the {kind} controller cannot run: {problem}")
        pytest.skip(problem)
    mp = pytest.MonkeyPatch()
    mp.setenv(CONTROLLER_ENV, kind)
    yield kind
    mp.undo()


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    problem = _pg_available()
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but PostgreSQL at {PG_ADMIN_URL} is unreachable: {problem}")
        pytest.skip(f"PostgreSQL not reachable ({problem})")
    return PG_ADMIN_URL


@pytest.fixture
def pg_url(pg_admin_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    import psycopg

    name = f"station_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = pg_admin_url.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every database test runs on a real SQLite file and on a real PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'station.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    upgrade(database)
    yield database
    database.dispose()


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> StationSettings:
    return StationSettings(data_dir=tmp_path / "data", db_url=db_url)


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> StationSettings:
    return StationSettings(data_dir=tmp_path / "data", db_url=f"sqlite:///{tmp_path / 's.db'}")
