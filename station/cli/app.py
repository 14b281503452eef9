"""The `station` typer application and its command groups; commands live in sibling modules."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Check Station: UV property-marking, code and serial checks against registers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
register_app = typer.Typer(
    help="Stolen-property and marked-property registers.", no_args_is_help=True
)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
eval_app = typer.Typer(help="Measure the pipeline against ground truth.", no_args_is_help=True)
user_app = typer.Typer(
    help="Users of the web UI and the API, and their tokens.", no_args_is_help=True
)
evidence_app = typer.Typer(help="Evidence bundles of checks.", no_args_is_help=True)
central_app = typer.Typer(
    help="The force's central service: stations, records, the register of record.",
    no_args_is_help=True,
)
app.add_typer(register_app, name="register")
app.add_typer(audit_app, name="audit")
app.add_typer(db_app, name="db")
app.add_typer(eval_app, name="eval")
app.add_typer(user_app, name="user")
app.add_typer(evidence_app, name="evidence")
app.add_typer(central_app, name="central")
