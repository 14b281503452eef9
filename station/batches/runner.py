"""`station batch`: a bulk check from the command line, with a progress bar and reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from station.batches.service import BatchService
from station.context import StationContext


def render_report_html(service: BatchService, batch_id: str) -> str:
    """The same report the web UI serves, as a standalone HTML page."""
    from station.api.report_view import render_batch_report

    return render_batch_report(service.report(batch_id))


def run_batch(
    ctx: StationContext,
    path: Path,
    report: Path | None,
    csv_out: Path | None,
    officer: str,
    quiet: bool = False,
) -> dict[str, Any]:
    """Check a CSV/XLSX of serials or a folder of photographs; write the reports asked for.

    Returns the batch summary with every hit, the counts by outcome and the lines without a
    hit (as runs). Bad files raise (storing nothing) with the
    rows named, like the HTTP upload.
    """
    service = BatchService(ctx.db, ctx.matcher, ctx.settings)
    if path.is_dir():
        batch_id = service.create_from_folder(path, officer)
    else:
        from station.errors import InputError

        if not path.is_file():
            raise InputError(f"{path} does not exist")
        batch_id = service.create(path, path.name, officer)
    if quiet:
        service.run(batch_id)
    else:
        from station.cli.progress import file_progress

        with file_progress(f"checking {path.name}") as progress:
            service.run(batch_id, progress=lambda done, total, hits: progress(done, total))
    if report is not None:
        report.write_text(render_report_html(service, batch_id), encoding="utf-8")
    if csv_out is not None:
        csv_out.write_text(service.report_csv(batch_id), encoding="utf-8")
    full = service.report(batch_id)
    summary = dict(full.batch)
    summary["hits_detail"] = full.hits
    summary["unreadable"] = full.unreadable
    summary.update(full.summary())
    return summary
