"""`station serve`, `sim`, `scan` and `doctor`: the commands that drive the box."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from station.cli.app import app
from station.cli.common import (
    ConfigOpt,
    DbOpt,
    JsonOpt,
    SimOpt,
    current_officer,
    err,
    guarded,
    opened,
    print_json,
    settings_for,
)


@app.command()
def serve(
    sim: SimOpt = False,
    host: Annotated[str | None, typer.Option(help="bind address")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port")] = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Run the API and the desk web UI (applies database migrations first)."""

    def go() -> None:
        import threading

        from station.api.app import create_app
        from station.api.server import run

        settings = settings_for(config, db_url=db, sim=sim or None)
        if host:
            settings.api.host = host
        if port:
            settings.api.port = port
        stopping = threading.Event()  # SIGTERM or Ctrl-C, even while the station starts
        application = create_app(settings, stopping)
        err.print(
            f"Check Station on http://{settings.api.host}:{settings.api.port}"
            f"{'  (simulator)' if settings.sim else ''}  database: {settings.database_url}",
            highlight=False,
        )
        run(application, stopping, **server_options(settings))
        failure = getattr(application.state, "start_error", None)
        if failure is not None:
            raise failure

    guarded(go)


def server_options(settings: Any) -> dict[str, Any]:
    """uvicorn options of the station's server (see station.api.server.options)."""
    from station.api.server import options

    return options(settings.api.host, settings.api.port)


@app.command()
def warm(json_out: JsonOpt = False, config: ConfigOpt = None) -> None:
    """Compile the matcher's kernels into the data directory's cache (run at install)."""

    def go() -> dict[str, Any]:
        from station.matcher.jit import configure_cache
        from station.matcher.jit import warm as warm_kernels

        configure_cache(settings_for(config).data_dir)
        return warm_kernels()

    doc = guarded(go)
    if json_out:
        print_json(doc)
    else:
        err.print(
            f"matcher kernels ready in {doc['cache_dir']}: {doc['warm_s']:.1f} s, "
            f"{doc['compiled']} compiled",
            highlight=False,
        )


@app.command()
def sim(
    scenario: Annotated[str, typer.Option(help="scenario name or JSON file")] = "demo",
    fault: Annotated[
        list[str] | None, typer.Option("--fault", help="fault to inject, e.g. corrupt:rate=0.05")
    ] = None,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    controller: Annotated[
        str | None,
        typer.Option(
            help="lamp controller to simulate: python, or firmware (the AVR firmware in simavr; "
            "default: $STATION_SIM_CONTROLLER, else python)"
        ),
    ] = None,
) -> None:
    """Run the hardware simulator on its own; prints the serial port and camera source."""

    def go() -> None:
        from station.wiring import serve_simulator_forever

        def ready(port: str, camera_source: str) -> None:
            print(f"serial port:   {port}", flush=True)
            print(f"camera source: {camera_source}", flush=True)
            print(
                f"connect with:  STATION_DEVICES__LAMP_PORT={port} "
                f"STATION_DEVICES__CAMERA_SOURCE={camera_source} station scan",
                flush=True,
            )

        serve_simulator_forever(
            scenario, faults=list(fault or []), seed=seed, on_ready=ready, controller=controller
        )

    guarded(go)


@app.command()
def scan(
    sim: SimOpt = False,
    json_out: JsonOpt = False,
    purpose: Annotated[str, typer.Option(help="why the item is checked")] = "property_office",
    officer: Annotated[str | None, typer.Option(help="who runs the check")] = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """One full check of the item on the tray: capture, read, match, record."""

    def go() -> dict[str, Any]:
        from station.context import hardware, prepare_reading

        settings = settings_for(config, db_url=db, sim=sim or None)
        prepare_reading(settings.vision)  # first: the workers boot while the rest loads
        from station.checks.service import CheckRequest

        with opened(settings) as ctx:
            if settings.sim:
                ctx.matcher.seed_demo_if_empty()
            with hardware(ctx, settings.sim):
                request = CheckRequest(purpose=purpose, officer=officer or current_officer())  # type: ignore[arg-type]
                return ctx.check_service().scan(request).document()

    doc = guarded(go)
    if json_out:
        print_json(doc)
    else:
        from station.cli.report import print_check

        print_check(doc)
    if doc.get("state") != "complete":
        raise typer.Exit(1)


@app.command()
def doctor(
    sim: SimOpt = False, json_out: JsonOpt = False, db: DbOpt = None, config: ConfigOpt = None
) -> None:
    """Hardware self-test: link, handshake, interlock, watchdog, lamps, camera, focus, UV."""

    def go() -> dict[str, Any]:
        from station.checks.doctor import doctor_configured

        settings = settings_for(config, db_url=db, sim=sim or None)
        with opened(settings) as ctx:
            # a dead link or camera still gives a report (parts failed, with the reason)
            report = doctor_configured(settings, use_sim=settings.sim)
            ctx.record_self_test(report.as_dict())
            return report.as_dict()

    result = guarded(go)
    if json_out:
        print_json(result)
    else:
        from station.cli.report import print_doctor

        print_doctor(result)
    if not result.get("passed"):
        raise typer.Exit(1)
