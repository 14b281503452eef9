"""`station install`: the station as an appliance (the work is in station.appliance)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from station.cli.app import app
from station.cli.common import guarded, print_json


@app.command("install")
def install(
    root: Annotated[
        Path, typer.Option(help="install under this folder instead of / (writes files only)")
    ] = Path("/"),
    lamp_id: Annotated[
        str | None,
        typer.Option(help="the lamp controller's name in /dev/serial/by-id (or its ID_SERIAL)"),
    ] = None,
    camera: Annotated[
        str, typer.Option(help="camera source: V4L2 index/path or picamera2")
    ] = "picamera2",
    port: Annotated[int, typer.Option(help="HTTP port of the server")] = 8000,
    host: Annotated[str, typer.Option(help="address the server listens on")] = "127.0.0.1",
    user: Annotated[str, typer.Option(help="service account of the server")] = "station",
    data_dir: Annotated[
        str, typer.Option(help="data directory (/var/lib/<name>)")
    ] = "/var/lib/station",
    kiosk: Annotated[
        bool, typer.Option("--kiosk/--no-kiosk", help="open the desk full screen at boot")
    ] = True,
    json_out: Annotated[bool, typer.Option("--json", help="print one JSON document")] = False,
) -> None:
    """Install the station as an appliance: systemd units, desk kiosk, udev rule, log rotation.

    Run again after an update (git pull; scripts/setup.sh): units are rewritten, settings in
    /etc/station/station.env and all data in the data directory are kept, and the server
    migrates the database before it starts.
    """
    from pathlib import PurePosixPath

    from station.appliance.install import ApplianceConfig, InstallReport, install

    def go() -> InstallReport:
        cfg = ApplianceConfig(
            root=root,
            lamp_id=lamp_id,
            camera=camera,
            port=port,
            host=host,
            user=user,
            data_dir=PurePosixPath(data_dir),
            kiosk=kiosk,
        )
        return install(cfg)

    report = guarded(go)
    if json_out:
        print_json(report.as_dict())
        return
    for path in report.written:
        typer.echo(f"wrote {root / path.lstrip('/')}")
    for path in report.kept:
        typer.echo(f"kept  {root / path.lstrip('/')} (your settings)")
    verb = "ran" if root.resolve() == Path("/") else "would run on the station"
    for cmd in report.commands:
        typer.echo(f"{verb}: {' '.join(cmd)}")
    for note in report.notes:
        typer.echo(f"note: {note}")
