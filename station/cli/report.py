"""Human-readable terminal output for the CLI (the --json forms are the contract)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

out = Console()

VERDICT_STYLE = {
    "match": "bold white on red",
    "possible_match": "bold black on yellow",
    "no_match": "bold white on green",
}
VERDICT_TEXT = {
    "match": "MATCH ON REGISTER",
    "possible_match": "POSSIBLE MATCH — verify by eye",
    "no_match": "no register match",
}


def print_read(doc: dict[str, Any]) -> None:
    if doc.get("file"):
        out.print(f"[bold]{doc['file']}[/]")
    idents = doc.get("identifiers", [])
    if not idents:
        out.print("  no codes or serials read")
    for i in idents:
        flag = "" if i.get("valid") else " [red](check digit fails)[/]"
        out.print(
            f"  {i['kind']:<13} {i['value']:<24} {i['source']:<22} "
            f"conf {i['confidence']:.2f}{flag}",
            highlight=False,
        )
    for m in doc.get("marks", []):
        out.print(
            f"  [yellow]fluorescence[/] {m['class']:<16} score {m['score']:.2f} "
            f"area {m['area_px']} px at {m['bbox']}",
            highlight=False,
        )
    for w in doc.get("warnings", []):
        out.print(f"  [yellow]warning:[/] {w}", highlight=False)


def print_matches(matches: list[dict[str, Any]]) -> None:
    if not matches:
        out.print("  nothing to match: no identifier was read")
    for m in matches:
        style = VERDICT_STYLE.get(m["verdict"], "")
        out.print(
            f"[{style}] {VERDICT_TEXT.get(m['verdict'], m['verdict'])} [/] {m['query']}",
            highlight=False,
        )
        for c in m.get("candidates", []):
            edits = f" assuming {', '.join(c['edits'])}" if c.get("edits") else ""
            out.print(
                f"    {c['status']:<16} {c['identifier']:<24} {c.get('crime_ref') or '':<16}"
                f" distance {c['distance']} score {c['score']:.2f}{edits}",
                highlight=False,
            )


def print_check(doc: dict[str, Any]) -> None:
    out.rule(f"check {doc['id']}  ({doc['state']})")
    if doc.get("marked"):
        out.print("[bold black on yellow] FORENSIC MARKING PRESENT: swab and submit [/]")
    print_read(doc)
    print_matches(doc.get("matches", []))
    verdict = doc.get("verdict") or "no_match"
    out.print(f"[{VERDICT_STYLE[verdict]}] {VERDICT_TEXT[verdict]} [/]")
    if not doc.get("register_version"):
        out.print(
            "[yellow]warning:[/] no register has been imported, so nothing can match: "
            "run `station register import FILE`"
        )
    for e in doc.get("earlier_checks", []):
        out.print(
            f"  earlier check {e['check_id']} at {e['started_at']} on {e['station_id']}: "
            f"{e['verdict']}",
            highlight=False,
        )
    if doc.get("error"):
        out.print(f"[red]error:[/] {doc['error']}", highlight=False)


def print_stats(stats: dict[str, Any]) -> None:
    out.print(
        f"register version {stats.get('version', 0)}, {stats.get('entries', 0)} entries in force",
        highlight=False,
    )
    table = Table("source", "kind", "status", "entries")
    for row in stats.get("by_source_kind_status", []):
        table.add_row(str(row["source"]), str(row["kind"]), str(row["status"]), str(row["entries"]))
    out.print(table)


def print_doctor(result: dict[str, Any]) -> None:
    for part in result.get("checks", result.get("parts", [])):
        mark = "[green]PASS[/]" if part.get("passed") else "[red]FAIL[/]"
        out.print(
            f"  {mark}  {part.get('name', '?'):<22} {part.get('detail', '')}", highlight=False
        )
    out.print(
        "[bold green]all checks passed[/]"
        if result.get("passed")
        else "[bold red]self-test failed: see the parts marked FAIL[/]"
    )
