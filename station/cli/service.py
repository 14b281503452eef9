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
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Issue an API token; it is printed once and stored only as a hash."""
    from station.auth.users import UserStore

    ctx = _context(config, db)
    try:
        token = UserStore(ctx.db).issue_token(username, name=name, actor=current_officer())
    except StationError as exc:
        _fail(exc)
    finally:
        ctx.close()
    typer.echo(token)


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
        data = build_bundle(ctx.check_service(), ctx.images, check_id, current_officer(), recipient)
    except StationError as exc:
        _fail(exc)
    finally:
        ctx.close()
    out.write_bytes(data)
    typer.echo(f"wrote {out} ({len(data)} bytes)")


@evidence_app.command("verify")
def evidence_verify(
    bundle: Annotated[Path, typer.Argument(help="an evidence bundle zip")],
    json_out: Annotated[bool, typer.Option("--json", help="print one JSON document")] = False,
) -> None:
    """Check a bundle offline: file hashes, image names, audit entry hashes."""
    from station.records.evidence import verify_bundle

    report = verify_bundle(bundle)
    if json_out:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    elif report.ok:
        typer.echo(
            f"bundle verifies: check {report.check_id}, {report.files} files, "
            f"{report.audit_entries} audit entries"
        )
    else:
        typer.echo("bundle does NOT verify:")
        for p in report.problems:
            typer.echo(f"  {p}")
    if not report.ok:
        raise typer.Exit(1)
