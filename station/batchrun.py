"""`station batch`: the property store's bulk check from the command line.

It runs through the same BatchService as the web batch screen, so a CLI batch is recorded,
audited, resumable after a crash and visible on the desk UI; the CLI adds a progress bar and
writes the CSV/HTML reports to files.
"""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from station.batches import BatchService
from station.context import StationContext
from station.errors import InputError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}
TEMPLATES = Path(__file__).parent / "api" / "templates"


def _folder_as_zip(folder: Path, dest: Path) -> Path:
    """Pack a folder's images (stored, not compressed) so it takes the upload path's checks."""
    images = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise InputError(f"{folder} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    archive = dest / f"{folder.name or 'captures'}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        for p in images:
            zf.write(p, p.relative_to(folder).as_posix())
    return archive


def write_html_report(batch: dict[str, Any], hits: list[dict[str, Any]], path: Path) -> None:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape())
    path.write_text(env.get_template("batch_report.html").render(batch=batch, hits=hits))


def run_batch(
    ctx: StationContext,
    path: Path,
    report: Path | None,
    csv_out: Path | None,
    officer: str,
    quiet: bool = False,
) -> dict[str, Any]:
    """Create, run and report one batch; returns the batch summary."""
    if not path.exists():
        raise InputError(f"{path} does not exist")
    service = BatchService(ctx.db, ctx.matcher, ctx.settings)
    with tempfile.TemporaryDirectory() as tmp:
        upload = _folder_as_zip(path, Path(tmp)) if path.is_dir() else path
        batch_id = service.create(upload, upload.name, officer=officer)
    if quiet:
        doc = service.run(batch_id)
    else:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        with Progress(
            TextColumn("checking {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[hits]} hit(s)"),
            console=Console(stderr=True),
        ) as bar:
            task = bar.add_task(path.name, total=None, hits=0)

            def progress(done: int, total: int, hits: int) -> None:
                bar.update(task, completed=done, total=total, hits=hits)

            doc = service.run(batch_id, progress)
    hits = service.hits(batch_id)
    if csv_out is not None:
        csv_out.write_text(service.report_csv(batch_id))
    if report is not None:
        write_html_report(doc, hits, report)
    if not quiet:
        from rich.console import Console

        Console(stderr=True).print(
            f"batch {batch_id}: {doc.get('total')} item(s), {doc.get('hits')} with a register hit"
            + (f"; CSV {csv_out}" if csv_out else "")
            + (f"; report {report}" if report else ""),
            highlight=False,
        )
    return {**doc, "hit_rows": hits}
