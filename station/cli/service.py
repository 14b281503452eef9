"""`station user ...` and `station evidence ...`: the service side's command-line tools.

The CLI runs locally as the station operator, so it needs no token; it is how the first
admin account of a real (non-simulator) station is created.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from station.cli.app import evidence_app, user_app
from station.cli.common import ConfigOpt, DbOpt, current_officer
from station.errors import InputError, StationError


def _context(config: Path | None, db: str | None) -> Any:
    from station.context import StationContext
    from station.settings import load_settings

    return StationContext(load_settings(config, db_url=db))


def _fail(exc: StationError) -> NoReturn:
    typer.echo(f"error: {exc}", err=True)
    typer.echo(f"what to do: {exc.fix}", err=True)
    raise typer.Exit(exc.exit_code)


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument(help="login name")],
    role: Annotated[str, typer.Option(help="custody|store|engineer|supervisor|admin|dealer")],
    display_name: Annotated[str, typer.Option(help="name shown on screen")] = "",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from standard input")
    ] = False,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Create a user (the password is prompted for, or read with --password-stdin)."""
    from station.auth.users import UserStore

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    ctx = _context(config, db)
    try:
        p = UserStore(ctx.db).create_user(
            username, role, password, display_name, actor=current_officer()
        )
    except StationError as exc:
        _fail(exc)
    finally:
        ctx.close()
    typer.echo(f"user {p.username} created with role {p.role}")


@user_app.command("token")
def user_token(
    username: Annotated[str, typer.Argument(help="whose token")],
    name: Annotated[str, typer.Option(help="what the token is for")] = "",
    days: Annotated[int, typer.Option(help="days until the token expires", min=1)] = 90,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Issue an API token; it is printed once and stored only as a hash."""
    from station.auth.users import UserStore

    ctx = _context(config, db)
    try:
        token = UserStore(ctx.db).issue_token(
            username, name=name, actor=current_officer(), days=days
        )
    except StationError as exc:
        _fail(exc)
    finally:
        ctx.close()
    typer.echo(token)


@user_app.command("tokens")
def user_tokens(username: str, db: DbOpt = None, config: ConfigOpt = None) -> None:
    """A user's API tokens by id, with expiry and state (never the tokens themselves)."""
    from station.auth.users import UserStore

    ctx = _context(config, db)
    try:
        for t in UserStore(ctx.db).list_tokens(username):
            state = "revoked" if t["revoked"] else f"expires {t['expires_at'] or 'never'}"
            typer.echo(f"{t['id']:>6}  {t['name'] or '-':<24} {state}")
    except StationError as exc:
        _fail(exc)
    finally:
        ctx.close()


@user_app.command("revoke-token")
def user_revoke_token(
    username: str, token_id: int, db: DbOpt = None, config: ConfigOpt = None
) -> None:
    """Revoke one API token by its id; the user's other tokens keep working."""
    from station.auth.users import UserStore

    ctx = _context(config, db)
    try:
        UserStore(ctx.db).revoke_token(username, token_id, actor=current_officer())
    except StationError as exc:
        _fail(exc)
    finally:
        ctx.close()
    typer.echo(f"token {token_id} of {username} revoked")


@user_app.command("restore")
def user_restore(username: str, db: DbOpt = None, config: ConfigOpt = None) -> None:
    """Make a suspended account active again (the way back for a suspended admin)."""
    from station.auth.users import UserStore

    ctx = _context(config, db)
    try:
        UserStore(ctx.db).set_active(username, True, actor=current_officer())
    except StationError as exc:
        _fail(exc)
    finally:
        ctx.close()
    typer.echo(f"user {username} is active")


@user_app.command("list")
def user_list(db: DbOpt = None, config: ConfigOpt = None) -> None:
    """Users and their roles."""
    from station.auth.users import UserStore

    ctx = _context(config, db)
    try:
        for u in UserStore(ctx.db).list_users():
            typer.echo(f"{u['username']:<24} {u['role']:<11} {'' if u['active'] else 'inactive'}")
    finally:
        ctx.close()


@evidence_app.command("export")
def evidence_export(
    check_id: Annotated[str, typer.Argument(help="the check's record id")],
    recipient: Annotated[str, typer.Option(help="who the bundle is disclosed to")],
    out: Annotated[Path, typer.Option("--out", "-o", help="zip file to write")],
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Write a check's evidence bundle (logged as a disclosure to the recipient)."""
    from station.records.evidence import build_bundle

    if not recipient.strip():
        _fail(InputError("--recipient must name who receives the bundle"))
    ctx = _context(config, db)
    try:
        data = build_bundle(
            ctx.check_service(),
            ctx.images,
            check_id,
            current_officer(),
            recipient,
            ctx.station_key,
        )
    except StationError as exc:
        _fail(exc)
    finally:
        ctx.close()
    out.write_bytes(data)
    typer.echo(f"wrote {out} ({len(data)} bytes)")


@evidence_app.command("verify")
def evidence_verify(
    bundle: Annotated[Path, typer.Argument(help="an evidence bundle zip")],
    key: Annotated[
        str | None,
        typer.Option("--key", help="the signing station's public key (base64) or a file with it"),
    ] = None,
    keys: Annotated[
        Path | None,
        typer.Option(
            "--keys",
            help="the force key list: force-keys.json (station central keys) or "
            "'<public key> <station>' a line",
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print one JSON document")] = False,
) -> None:
    """Check a bundle offline: the station's signature over every file, hashes, audit entries.

    Names the station that signed it and every file or manifest field changed since."""
    from station.records.evidence import read_key_list, trusted_key, verify_bundle

    try:
        trusted = {}
        if keys is not None:
            trusted.update(read_key_list(keys))
        if key is not None:
            trusted.update(trusted_key(key))
    except StationError as exc:
        _fail(exc)
    report = verify_bundle(bundle, trusted)
    if json_out:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    elif report.ok:
        typer.echo(
            f"bundle verifies: check {report.check_id}, signed by {report.signed_by} "
            f"(station {report.station_id}, key {report.key_id}), {report.files} files, "
            f"{report.audit_entries} audit entries"
        )
    else:
        typer.echo("bundle does NOT verify:")
        for p in report.problems:
            typer.echo(f"  {p}")
    if not report.ok:
        raise typer.Exit(1)


@evidence_app.command("key")
def evidence_key(config: ConfigOpt = None) -> None:
    """Print this station's public key as a key list line (for the force's key list)."""
    from station.records.signing import StationKey
    from station.settings import load_settings

    settings = load_settings(config)
    try:
        key = StationKey.load_or_create(settings.data_dir)
    except StationError as exc:
        _fail(exc)
    typer.echo(f"{key.public_text} {settings.station_id}")
