"""Evidence bundle: one check as a zip of JSON, images and hashes, verifiable offline.

Layout: ``check.json`` (the check document), ``images/<role>-<sha256>.png``, ``audit.json``
(every audit entry about the check, with its chain hashes), ``manifest.json`` and
``SHA256SUMS`` (``sha256sum -c SHA256SUMS`` works on the unpacked bundle). ``verify_bundle``
re-hashes everything and recomputes each audit entry's hash from its predecessor's.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from station.checks.service import CheckService
from station.db.models import AuditHead
from station.records import audit
from station.records.images import ImageStore

FORMAT = "check-station-evidence/1"
VERIFY_TEXT = """Check Station evidence bundle
=============================
Verify offline, without the station:
  unzip bundle.zip -d bundle && cd bundle && sha256sum -c SHA256SUMS
Every image's file name carries the SHA-256 of its bytes. audit.json holds the audit-log
entries about this check; each entry's "hash" is SHA-256 over its fields and "prev_hash".
With the station software installed:  python -m station.records.evidence bundle.zip
"""


def _canonical(doc: Any) -> bytes:
    return json.dumps(doc, indent=2, sort_keys=True, default=str).encode()


def build_bundle(
    service: CheckService, images: ImageStore, check_id: str, actor: str, recipient: str
) -> bytes:
    """The zip for ``check_id``. The export is logged as a disclosure to ``recipient``."""
    record = service.get(check_id, actor=actor, audit_read=False)
    files: dict[str, bytes] = {"check.json": _canonical(record.document())}
    for img in record.images:
        files[f"images/{img.role}-{img.sha256}.png"] = images.read_bytes(img.sha256)
    with service.db.writer() as s:
        entry = audit.append(
            s, actor, "disclosure", "check", check_id, {"bundle": FORMAT}, recipient=recipient
        )
        entries = audit.list_entries(
            s, object_type="check", object_id=check_id, limit=1_000_000, oldest_first=True
        )
        files["audit.json"] = _canonical([e.model_dump() for e in entries])
        head = s.get(AuditHead, 1)
        head_doc = {"id": head.last_id, "hash": head.last_hash} if head else None
    manifest = {
        "format": FORMAT,
        "check_id": check_id,
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
        "created_by": actor,
        "recipient": recipient,
        "disclosure_audit_id": entry.id,
        "audit_head_at_export": head_doc,
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()},
    }
    files["manifest.json"] = _canonical(manifest)
    files["VERIFY.txt"] = VERIFY_TEXT.encode()
    sums = "".join(
        f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in sorted(files.items())
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        zf.writestr("SHA256SUMS", sums)
    return buf.getvalue()


@dataclass
class BundleReport:
    ok: bool
    check_id: str | None = None
    files: int = 0
    audit_entries: int = 0
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "check_id": self.check_id,
            "files": self.files,
            "audit_entries": self.audit_entries,
            "problems": self.problems,
        }


def verify_bundle(source: Path | bytes) -> BundleReport:
    """Check a bundle without the station's database: hashes, image names, audit entries."""
    problems: list[str] = []
    try:
        zf = zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source)
    except (zipfile.BadZipFile, OSError) as exc:
        return BundleReport(False, problems=[f"not a readable zip: {exc}"])
    with zf:
        names = zf.namelist()
        data = {n: zf.read(n) for n in names if not n.endswith("/")}
    for required in ("SHA256SUMS", "manifest.json", "check.json", "audit.json"):
        if required not in data:
            problems.append(f"{required} is missing")
    if problems:
        return BundleReport(False, problems=problems)
    listed: dict[str, str] = {}
    for line in data["SHA256SUMS"].decode(errors="replace").splitlines():
        digest, _, name = line.partition("  ")
        listed[name] = digest
    for name, blob in data.items():
        if name == "SHA256SUMS":
            continue
        if name not in listed:
            problems.append(f"{name} is in the zip but not in SHA256SUMS")
        elif hashlib.sha256(blob).hexdigest() != listed[name]:
            problems.append(f"{name} does not match its SHA-256 in SHA256SUMS")
    for name in listed:
        if name not in data:
            problems.append(f"{name} is listed in SHA256SUMS but missing from the zip")
    manifest = json.loads(data["manifest.json"])
    for name, digest in manifest.get("files", {}).items():
        if name in data and hashlib.sha256(data[name]).hexdigest() != digest:
            problems.append(f"{name} does not match its SHA-256 in manifest.json")
    check = json.loads(data["check.json"])
    for img in check.get("images", []):
        name = f"images/{img['role']}-{img['sha256']}.png"
        if name not in data:
            problems.append(f"image {name} named by check.json is missing")
        elif hashlib.sha256(data[name]).hexdigest() != img["sha256"]:
            problems.append(f"image {name} does not hash to the SHA-256 in its name")
    entries = json.loads(data["audit.json"])
    prev: dict[str, Any] | None = None
    for e in entries:
        at = dt.datetime.fromisoformat(e["at"])
        digest = audit.entry_hash(
            e["prev_hash"],
            e["id"],
            at,
            e["actor"],
            e["action"],
            e["object_type"],
            e["object_id"],
            e["recipient"],
            e["detail"],
        )
        if digest != e["hash"]:
            problems.append(f"audit entry {e['id']} does not hash to its recorded hash")
        if prev is not None and e["id"] == prev["id"] + 1 and e["prev_hash"] != prev["hash"]:
            problems.append(f"audit entry {e['id']} does not chain to entry {prev['id']}")
        if e["object_id"] != check.get("id"):
            problems.append(f"audit entry {e['id']} is about another object")
        prev = e
    if manifest.get("check_id") != check.get("id"):
        problems.append("manifest.json and check.json name different checks")
    return BundleReport(not problems, check.get("id"), len(data), len(entries), problems)


def main(argv: list[str] | None = None) -> int:
    """``python -m station.records.evidence BUNDLE.zip``: exit 0 when the bundle verifies."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m station.records.evidence BUNDLE.zip", file=sys.stderr)
        return 2
    report = verify_bundle(Path(args[0]))
    print(json.dumps(report.as_dict(), indent=2))
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
