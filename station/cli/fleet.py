"""`station central ...` (the force's central service) and `station enrol` (a station joins)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from station.cli.app import app, central_app
from station.cli.common import ConfigOpt, JsonOpt, guarded, print_json, settings_for
from station.errors import ConfigError

if TYPE_CHECKING:
    from station.db.engine import Database

NatsOpt = Annotated[
    str,
    typer.Option("--nats", help="the force's NATS, e.g. nats://central:PASSWORD@nats1:4222",
                 envvar="STATION_NATS_URL"),
]  # fmt: skip
AuthFileOpt = Annotated[
    Path | None,
    typer.Option("--nats-auth", help="rewrite this nats-server authorization include file"),
]
CENTRAL_PASSWORD_FILE = Path("central") / "nats-password"


def _central_db(db: str | None, config: Path | None) -> Database:
    from station.db.migrate import upgrade

    database = _central_database(settings_for(config, db_url=db).database_url)
    upgrade(database)
    return database


def _central_password(data_dir: Path) -> str:
    """The centre's own NATS password, made once and kept owner-only in the data folder."""
    from station.fleet import creds

    path = data_dir / CENTRAL_PASSWORD_FILE
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    password = creds.new_password()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(password + "\n")
    return password


def _write_auth(database: Database, data_dir: Path, out: Path) -> None:
    from station.fleet import creds
    from station.fleet.stations import StationRoll

    roll = StationRoll(database)
    text = creds.auth_config(creds.hash_password(_central_password(data_dir)), roll.nats_users())
    creds.write_auth_config(out, text)


DbRequired = Annotated[
    str, typer.Option("--db", help="the centre's PostgreSQL URL", envvar="STATION_DB_URL")
]


@central_app.command("add-station")
def add_station(
    station_id: Annotated[str, typer.Argument(help="the station's id, e.g. custody-north-1")],
    db: DbRequired,
    location: Annotated[str, typer.Option(help="where the station stands")] = "",
    scope: Annotated[
        str, typer.Option(help="full: holds the whole register; partial: asks the centre")
    ] = "full",
    nats_auth: AuthFileOpt = None,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Add a station; prints its NATS login once (give it to whoever enrols the station)."""
    from station.fleet.stations import StationRoll

    def run() -> dict[str, str]:
        database = _central_db(db, config)
        new = StationRoll(database).add(station_id, location, scope)
        if nats_auth is not None:
            _write_auth(database, settings_for(config).data_dir, nats_auth)
        return {
            "station_id": new.station_id,
            "nats_user": new.nats_user,
            "nats_password": new.nats_password,
        }

    doc = guarded(run)
    if json_out:
        print_json(doc)
    else:
        typer.echo(
            f"station {doc['station_id']} added; NATS user {doc['nats_user']}, password {doc['nats_password']}"
        )
        typer.echo("reload nats-server after rewriting its authorization file (--nats-auth).")


@central_app.command("revoke")
def revoke(
    station_id: Annotated[str, typer.Argument(help="the station to shut out")],
    db: DbRequired,
    nats_auth: AuthFileOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Revoke a station: the ingester refuses it, and (with --nats-auth) so does NATS."""
    from station.fleet.stations import StationRoll

    def run() -> None:
        database = _central_db(db, config)
        StationRoll(database).revoke(station_id)
        if nats_auth is not None:
            _write_auth(database, settings_for(config).data_dir, nats_auth)

    guarded(run)
    typer.echo(f"station {station_id} revoked; reload nats-server to close its connection")


@central_app.command("nats-auth")
def nats_auth_cmd(
    db: DbRequired,
    out: Annotated[Path, typer.Option("--out", help="the authorization include file to write")],
    config: ConfigOpt = None,
) -> None:
    """Write nats-server's authorization file: the centre and every unrevoked station."""
    guarded(lambda: _write_auth(_central_db(db, config), settings_for(config).data_dir, out))
    typer.echo(
        f"wrote {out}; include it in the server config and reload (nats-server --signal reload)"
    )


@central_app.command("keys")
def keys(db: DbRequired, config: ConfigOpt = None) -> None:
    """Print the force's list of station keys (JSON), for verifying records offline."""
    from station.fleet.stations import StationRoll

    print_json(guarded(lambda: StationRoll(_central_db(db, config)).key_list()))


def _nats_url(url: str, data_dir: Path) -> str:
    """The URL with the centre's login filled in when it carries none."""
    if "@" in url.split("://", 1)[-1]:
        return url
    scheme, rest = url.split("://", 1) if "://" in url else ("nats", url)
    return f"{scheme}://central:{_central_password(data_dir)}@{rest}"


@central_app.command("serve")
def serve(
    db: DbRequired,
    nats: NatsOpt = "nats://127.0.0.1:4222",
    host: Annotated[str, typer.Option(help="address of the supervisor's pages")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port of the supervisor's pages (0: none)")] = 8100,
    history: Annotated[int, typer.Option(help="register versions the stream keeps")] = 100,
    snapshot_every: Annotated[int, typer.Option(help="a full snapshot every K versions")] = 20,
    replicas: Annotated[int, typer.Option(help="JetStream replicas (3 on a 3-node cluster)")] = 1,
    matcher: Annotated[bool, typer.Option(help="also answer central look-ups here")] = True,
    config: ConfigOpt = None,
) -> None:
    """Run the central service: ingest records, publish the register, answer enrolments."""
    from station.fleet.central import CentralSettings

    settings = settings_for(config, db_url=db)
    database = guarded(lambda: _central_database(settings.database_url))
    central = CentralSettings(history=history, snapshot_every=snapshot_every, replicas=replicas)

    def start(stack: contextlib.ExitStack, step: Callable[[str], None]) -> None:
        """The centre, step by step (a stop asked for meanwhile ends it at the next step)."""
        from sqlalchemy.exc import OperationalError

        from station.db.migrate import upgrade
        from station.fleet.central import CentralService, CentralThread
        from station.records.signing import StationKey

        stack.callback(database.dispose)
        step("the database")
        try:
            upgrade(database)
        except OperationalError as exc:
            raise ConfigError(
                f"cannot reach the centre's database: {exc.orig}",
                fix="check --db (or STATION_DB_URL) and that PostgreSQL is running",
            ) from None
        look_ups = None
        if matcher:
            step("the matcher")
            from station.fleet.matcher_service import prepare_matcher
            from station.matcher.jit import configure_cache
            from station.register.service import RegisterMatcher

            configure_cache(settings.data_dir)
            look_ups = RegisterMatcher(database, settings.matcher)
            prepare_matcher(look_ups)
        step("the central service")
        service = CentralService(
            database,
            _nats_url(nats, settings.data_dir),
            StationKey.load_or_create(settings.data_dir / "central"),
            central,
            look_ups,
        )
        thread = CentralThread(service)
        thread.start()
        stack.callback(thread.stop)  # closed before the database
        typer.echo(f"central service running on {nats.split('@')[-1]}", err=True)

    stopping = threading.Event()  # SIGTERM or Ctrl-C, even while the centre starts
    if port:
        from station.api import server
        from station.api.central import create_central_app

        app = create_central_app(database, start, stopping)
        server.run(app, stopping, **server.options(host, port))
        failure = getattr(app.state, "start_error", None)
        if failure is not None:
            guarded(lambda: _raise(failure))
        return
    # no pages: the same start-up, stopped by the same signals
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    with contextlib.ExitStack() as stack:
        from station.api.server import StoppedWhileStarting, check_stop

        try:
            guarded(lambda: start(stack, lambda step: check_stop(stopping, step)))
        except StoppedWhileStarting as exc:
            typer.echo(f"asked to stop while starting: stopped before {exc.step}", err=True)
            return
        stopping.wait()


def _raise(exc: BaseException) -> None:
    raise exc


def _central_database(url: str) -> Database:
    """The centre's database, not yet connected to (the start-up migrates it)."""
    from station.db.engine import Database

    if not url.startswith(("postgresql", "postgres")):
        raise ConfigError(
            f"the centre needs PostgreSQL, not {url.split(':', 1)[0]}",
            fix="pass --db postgresql://USER@HOST/DB (or set STATION_DB_URL)",
        )
    return Database(url)


@central_app.command("matcher")
def matcher_replica(
    db: DbRequired, nats: NatsOpt = "nats://127.0.0.1:4222", config: ConfigOpt = None
) -> None:
    """Run one more central matcher in the queue group (more replicas carry more load)."""
    import nats as nats_client

    from station.fleet.matcher_service import prepare_matcher, serve_matcher
    from station.matcher.jit import configure_cache
    from station.register.service import RegisterMatcher

    settings = settings_for(config)
    configure_cache(settings.data_dir)

    async def main() -> None:
        database = _central_db(db, config)
        nc = await nats_client.connect(
            _nats_url(nats, settings.data_dir), name="matcher", max_reconnect_attempts=-1
        )
        look_ups = RegisterMatcher(database, settings.matcher)
        await asyncio.to_thread(prepare_matcher, look_ups)
        await serve_matcher(nc, look_ups)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        await nc.close()

    guarded(lambda: asyncio.run(main()))


@app.command("enrol")
def enrol_cmd(
    station_id: Annotated[str, typer.Option("--station-id", help="the id the centre added")],
    nats: NatsOpt,
    user: Annotated[
        str, typer.Option(help="NATS user the centre issued (default: the station id)")
    ] = "",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the NATS password from standard input")
    ] = False,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Join the force: register this station's key with the centre and keep its login."""
    from station.fleet.enrolment import enrol

    password = (
        sys.stdin.readline().strip()
        if password_stdin
        else typer.prompt("NATS password", hide_input=True)
    )
    settings = settings_for(config)
    enrolment, reply = guarded(
        lambda: asyncio.run(
            enrol(settings.data_dir, station_id, nats, user or station_id, password)
        )
    )
    doc = {"station_id": enrolment.station_id, "key_id": reply.get("key_id"), "scope": enrolment.scope,
           "centre_key": enrolment.centre_key, "stations_in_key_list": len(reply.get("key_list", {}).get("keys", []))}  # fmt: skip
    if json_out:
        print_json(doc)
    else:
        typer.echo(
            f"enrolled {doc['station_id']} with key {doc['key_id']}; `station serve` now links to the centre"
        )
    keys_file = settings.data_dir / "fleet" / "force-keys.json"
    keys_file.write_text(json.dumps(reply.get("key_list", {}), indent=2))
