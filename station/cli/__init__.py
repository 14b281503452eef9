"""The `station` command line: one typer app, its commands in modules by what they work on."""

from importlib import import_module

from station.cli.app import app

# registration order is the order `station --help` lists the commands in
for _module in (
    "hardware",
    "reading",
    "bulk",
    "register",
    "admin",
    "service",
    "fleet",
    "appliance",
):
    import_module(f"station.cli.{_module}")

__all__ = ["app"]
