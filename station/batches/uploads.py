"""Reading uploaded files safely: size caps while streaming, CSV/XLSX serial lists, zip archives.

Everything here rejects bad input with a message naming what was wrong (and the line or
member), before anything is stored.
"""

from __future__ import annotations

import csv
import io
import itertools
import shutil
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path, PurePosixPath
from typing import NamedTuple

from station.errors import (
    IdentifierRejected,
    InputError,
    UploadRejected,
    UploadTooLarge,
)
from station.identifiers import MAX_IDENTIFIER_LENGTH, classify
from station.records.imagelimits import HEAD_BYTES, dimensions
from station.vision.io import IMAGE_SUFFIXES

IDENTIFIER_COLUMNS = ("identifier", "serial", "serial_number", "imei", "mark_code", "code")
MAX_ZIP_MEMBERS = 5000
#: a member expanding more than this many times its compressed size is treated as a bomb
MAX_ZIP_RATIO = 200


class SerialRow(NamedTuple):
    line: int
    raw: str
    #: the row's other columns by their header names, kept beside each hit in the report
    columns: dict[str, str]


async def save_stream(chunks: AsyncIterator[bytes], dest: Path, limit_bytes: int) -> int:
    """Write a request body to ``dest``, stopping as soon as it passes ``limit_bytes``."""
    size = 0
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(dest, "wb") as fh:
            async for chunk in chunks:
                size += len(chunk)
                if size > limit_bytes:
                    raise UploadTooLarge(
                        f"upload is larger than the limit of {limit_bytes // (1024 * 1024)} MB"
                    )
                fh.write(chunk)
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    if size == 0:
        dest.unlink(missing_ok=True)
        raise InputError("the upload is empty")
    return size


def read_serial_rows(path: Path, filename: str | None = None) -> list[SerialRow]:
    """Identifiers from a CSV or XLSX file, one per row; every bad row is reported."""
    name = (filename or path.name).lower()
    label = filename or path.name
    if name.endswith(".xlsx"):
        table = _xlsx_rows(path, label)
    elif name.endswith((".csv", ".txt")):
        table = _csv_rows(path, label)
    else:
        raise InputError(f"{filename or path.name}: expected a .csv, .txt or .xlsx file")
    if not table:
        raise InputError(f"{filename or path.name}: the file has no rows")
    header = [c.strip().lower() for c in table[0][1]]
    col = next((header.index(c) for c in IDENTIFIER_COLUMNS if c in header), None)
    body = table[1:] if col is not None else table
    if col is None:
        if len(header) != 1:
            raise UploadRejected(
                f"{filename or path.name}: no identifier column; name one of "
                f"{', '.join(IDENTIFIER_COLUMNS)} in the header row",
                [(table[0][0], "header row has no identifier column")],
            )
        col = 0
    rows: list[SerialRow] = []
    names = [c.strip() for c in table[0][1]] if body is not table else []
    # the other columns, by position and header name
    others_at = [(j, name or f"column {j + 1}") for j, name in enumerate(names) if j != col]
    problems: list[tuple[int | str, str]] = []
    width = len(table[0][1])
    for line, cells in body:
        if not "".join(cells).strip():
            continue
        if len(cells) != width and col is not None and len(header) > 1:
            problems.append((line, f"has {len(cells)} fields, the header has {width}"))
            continue
        raw = cells[col].strip() if col < len(cells) else ""
        # plain letters and digits of a sane length pass every rule classify applies
        if not (raw.isascii() and raw.isalnum() and len(raw) <= MAX_IDENTIFIER_LENGTH):
            try:
                classify(raw)
            except IdentifierRejected as exc:
                problems.append((line, str(exc)))
                continue
        others = {name: cells[j].strip() for j, name in others_at if j < len(cells)}
        rows.append(SerialRow(line, raw, others))
    if problems:
        raise UploadRejected(
            f"{filename or path.name}: {len(problems)} bad row(s); nothing was stored", problems
        )
    if not rows:
        raise InputError(f"{filename or path.name}: no identifiers in the file")
    return rows


def _csv_rows(path: Path, label: str) -> list[tuple[int, list[str]]]:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UploadRejected(
            f"{label}: not UTF-8 text (bad byte at line {line})",
            [(line, f"byte 0x{data[exc.start]:02x} is not UTF-8")],
        ) from None
    if "\x00" in text:
        raise InputError(f"{label}: contains NUL bytes; is this really a CSV file?")
    reader = csv.reader(io.StringIO(text, newline=""))
    out: list[tuple[int, list[str]]] = []
    try:
        for cells in reader:
            out.append((reader.line_num, cells))
    except csv.Error as exc:
        raise UploadRejected(f"{label}: malformed CSV", [(reader.line_num, str(exc))]) from None
    return out


def _xlsx_rows(path: Path, label: str) -> list[tuple[int, list[str]]]:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:
        raise InputError(f"{label}: not a readable XLSX workbook ({exc})") from None
    try:
        ws = wb.worksheets[0]
        out = []
        for n, values in enumerate(ws.iter_rows(values_only=True), start=1):
            out.append((n, ["" if v is None else str(v) for v in values]))
        return out
    finally:
        wb.close()


def safe_member_name(name: str) -> PurePosixPath:
    """The member's path if it stays inside the archive; otherwise a clear rejection."""
    if "\\" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UploadRejected(f"zip member {name!r} has an absolute or Windows path")
    p = PurePosixPath(name)
    if any(part == ".." for part in p.parts):
        raise UploadRejected(f"zip member {name!r} points outside the archive ('..')")
    return p


def _overlapping(infos: list[zipfile.ZipInfo]) -> set[str]:
    """Members whose stored bytes overlap another member's: one stored image listed many times
    in the central directory extracts again and again (a zip bomb the ratio check cannot see)."""
    spans = sorted(
        (
            (i.header_offset, i.header_offset + 30 + len(i.filename.encode()) + i.compress_size, i)
            for i in infos
        ),
        key=lambda span: (span[0], span[1]),
    )
    bad: set[str] = set()
    for (start, end, info), (nxt, _, other) in itertools.pairwise(spans):
        if nxt < end or nxt == start:
            bad.add(info.filename)
            bad.add(other.filename)
    return bad


def extract_images(
    archive: Path, dest: Path, max_total_bytes: int, max_pixels: int | None = None
) -> list[Path]:
    """Extract the image files of a zip into ``dest`` with bomb and traversal checks.

    Refused before anything is kept: traversal, links, implausible ratios, overlapping members,
    a declared or real total over ``max_total_bytes``, and (with ``max_pixels``) any image whose
    header declares more pixels than that. On any refusal ``dest`` is removed again.
    """
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as exc:
        raise InputError(f"{archive.name}: not a zip archive ({exc})") from None
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        if len(infos) > MAX_ZIP_MEMBERS:
            raise UploadRejected(f"zip has {len(infos)} files; the limit is {MAX_ZIP_MEMBERS}")
        problems: list[tuple[int | str, str]] = []
        overlapping = _overlapping(zf.infolist())
        declared = 0
        chosen = []
        for info in infos:
            try:
                rel = safe_member_name(info.filename)
            except UploadRejected as exc:
                problems.append((info.filename, str(exc)))
                continue
            if (info.external_attr >> 16) & 0o170000 == 0o120000:
                problems.append((info.filename, "symbolic links are not accepted"))
                continue
            if rel.parts[0] == "__MACOSX" or rel.name.startswith("."):
                continue
            if rel.suffix.lower() not in IMAGE_SUFFIXES:
                problems.append((info.filename, "not an image file (png, jpg, bmp, tif, webp)"))
                continue
            if info.filename in overlapping:
                problems.append((info.filename, "shares its stored bytes with another member"))
                continue
            if info.compress_size and info.file_size / info.compress_size > MAX_ZIP_RATIO:
                problems.append((info.filename, "compression ratio is implausible (zip bomb?)"))
                continue
            declared += info.file_size
            chosen.append((info, rel))
        if declared > max_total_bytes:
            problems.append(("*", f"expands to {declared} bytes; the limit is {max_total_bytes}"))
        if max_pixels is not None and not problems:
            # a bomb refuses the whole upload; an unreadable photograph is reported per item later
            for info, _ in chosen:
                with zf.open(info) as src:
                    found = dimensions(src.read(HEAD_BYTES))
                if found is not None and found[1] * found[2] > max_pixels:
                    kind, w, h = found
                    problems.append(
                        (
                            info.filename,
                            f"{kind} header declares {w}x{h} pixels, over the limit "
                            f"of {max_pixels} (decompression bomb?)",
                        )
                    )
        if problems:
            raise UploadRejected(
                f"{archive.name}: {len(problems)} problem(s); nothing was stored", problems
            )
        if not chosen:
            raise InputError(f"{archive.name}: no image files in the archive")
        dest.mkdir(parents=True, exist_ok=True)
        try:
            return _write_members(zf, chosen, dest, archive.name, max_total_bytes)
        except BaseException:
            shutil.rmtree(dest, ignore_errors=True)
            raise


def _write_members(
    zf: zipfile.ZipFile,
    chosen: list[tuple[zipfile.ZipInfo, PurePosixPath]],
    dest: Path,
    name: str,
    max_total_bytes: int,
) -> list[Path]:
    out: list[Path] = []
    total = 0
    for n, (info, rel) in enumerate(chosen):
        target = dest / f"{n:05d}_{rel.name}"
        with zf.open(info) as src, open(target, "wb") as fh:
            while chunk := src.read(1 << 16):
                total += len(chunk)
                # headers can lie: count what is really written
                if total > max_total_bytes:
                    raise UploadRejected(
                        f"{name}: expands past {max_total_bytes} bytes (zip bomb?)"
                    )
                fh.write(chunk)
        out.append(target)
    return out
