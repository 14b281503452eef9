"""Evidence bundle: one check as a zip of JSON, images and hashes, signed by the station.

Layout: ``check.json`` (the check document), ``images/<role>-<sha256>.png``, ``audit.json``
(every audit entry about the check, with its chain hashes), ``checkpoint.json`` (the audit
chain's head signed at export), ``VERIFY.txt``, ``manifest.json`` (who, when, for whom, and the
SHA-256 of every other file), ``SIGNATURE.json`` and ``SHA256SUMS``.

Hashes alone prove nothing to someone who can recompute them. ``SIGNATURE.json`` holds the
station's Ed25519 signature over ``manifest.json``, and, so that a verifier can name what was
changed, one signature per file (over check id, name and hash) and per manifest field.
``verify_bundle`` checks them against a key the verifier trusts (the station's public key or
the force's key list), never against the key the bundle itself carries.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from station.checks.service import CheckService
from station.domain import plain_text
from station.errors import InputError
from station.records import audit
from station.records.images import ImageStore
from station.records.signing import StationKey, key_id, public_key_from_text, verify_signature

FORMAT = "check-station-evidence/2"
#: members that are not themselves covered file by file
OUTER = ("manifest.json", "SIGNATURE.json", "SHA256SUMS")
MAX_MEMBERS = 1000
MAX_BUNDLE_BYTES = 2 * 1024**3
VERIFY_TEXT = """Check Station evidence bundle
=============================
Verify offline with the station software and the station's public key (or the force's
key list):
  station evidence verify bundle.zip --key <public key>      (or --keys force-keys.json)
This checks the station's Ed25519 signature over manifest.json and over every file, and names
any file or manifest field changed after the station signed it.
Without the software: unzip bundle.zip -d bundle && cd bundle && sha256sum -c SHA256SUMS
(hashes alone show only that the files match each other, not who made them).
Every image's file name carries the SHA-256 of its bytes. audit.json holds the audit-log
entries about this check; each entry's "hash" is SHA-256 over its fields and "prev_hash".
"""


def _canonical(doc: Any) -> bytes:
    return json.dumps(doc, indent=2, sort_keys=True, default=str).encode()


def _file_statement(check_id: str, name: str, digest: str) -> bytes:
    return f"{FORMAT}\nfile\n{check_id}\n{name}\n{digest}".encode()


def _field_statement(check_id: str, name: str, value: Any) -> bytes:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return f"{FORMAT}\nfield\n{check_id}\n{name}\n{text}".encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def checked_recipient(recipient: str) -> str:
    """The recipient as one line of plain text (it is printed in the manifest and the log)."""
    text = recipient.strip()
    if not text or len(text) > 100:
        raise InputError("the recipient must be 1-100 characters naming who receives the bundle")
    try:
        return plain_text(text, "the recipient")
    except ValueError as exc:
        raise InputError(str(exc)) from None


def build_bundle(
    service: CheckService,
    images: ImageStore,
    check_id: str,
    actor: str,
    recipient: str,
    key: StationKey,
) -> bytes:
    """The signed zip for ``check_id``. The export is logged as a disclosure to ``recipient``
    and the audit chain's head is checkpointed (signed) in the same transaction."""
    recipient = checked_recipient(recipient)
    record = service.get(check_id, actor=actor, audit_read=False)
    station_id = service.settings.station_id
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
        cp = audit.checkpoint(s, key, station_id)
        files["checkpoint.json"] = _canonical(cp.as_dict())
    files["VERIFY.txt"] = VERIFY_TEXT.encode()
    digests = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "check_id": check_id,
        "station_id": station_id,
        "key_id": key.key_id,
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
        "created_by": actor,
        "recipient": recipient,
        "disclosure_audit_id": entry.id,
        "audit_head_at_export": {"id": cp.entries, "hash": cp.head_hash},
        "files": digests,
    }
    files["manifest.json"] = _canonical(manifest)
    signature = {
        "algorithm": "Ed25519",
        "station_id": station_id,
        "key_id": key.key_id,
        "public_key": key.public_text,
        "manifest": _b64(key.sign(files["manifest.json"])),
        "files": {
            name: _b64(key.sign(_file_statement(check_id, name, digest)))
            for name, digest in digests.items()
        },
        "fields": {
            name: _b64(key.sign(_field_statement(check_id, name, value)))
            for name, value in manifest.items()
            if name != "files"
        },
    }
    files["SIGNATURE.json"] = _canonical(signature)
    sums = "".join(
        f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in sorted(files.items())
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        zf.writestr("SHA256SUMS", sums)
    return buf.getvalue()


# --- trusted keys ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrustedKey:
    """A public key the verifier trusts, and the station it belongs to; a key the force has
    revoked is still listed (so a bundle it signed is named, not merely unknown) but never
    trusted."""

    public: bytes
    station: str
    revoked_at: str | None = None

    @property
    def key_id(self) -> str:
        return key_id(self.public)


def read_key_list(path: Path) -> dict[str, TrustedKey]:
    """A force key list, keyed by key id: either the centre's JSON (``station central keys``,
    or ``force-keys.json`` beside a station's enrolment), revoked keys marked, or plain text,
    one station a line, ``<base64 public key> <station name>``, ``#`` starting a comment."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"key list {path.name}: cannot read it ({exc})") from exc
    keys = _json_key_list(path.name, text) if text.lstrip().startswith("{") else {}
    for n, line in enumerate([] if keys else text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        public_text, _, station = line.partition(" ")
        try:
            public = public_key_from_text(public_text)
        except InputError as exc:
            raise InputError(f"key list {path.name} line {n}: {exc}") from exc
        trusted = TrustedKey(public, station.strip() or key_id(public))
        keys[trusted.key_id] = trusted
    if not keys:
        raise InputError(f"key list {path.name} lists no keys")
    return keys


def _json_key_list(name: str, text: str) -> dict[str, TrustedKey]:
    """The centre's key list: ``{"keys": [{"station_id", "key_id", "public_key",
    "revoked_at"}, ...]}``; a listed key id that is not its key's own is refused."""
    try:
        doc = json.loads(text)
        entries = doc["keys"]
        if not isinstance(entries, list):
            raise TypeError("'keys' is not a list")
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"key list {name} is not the centre's JSON key list ({exc})") from exc
    keys: dict[str, TrustedKey] = {}
    for n, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict) or not entry.get("public_key"):
            raise InputError(f"key list {name} entry {n} has no public_key")
        try:
            public = public_key_from_text(str(entry["public_key"]))
        except InputError as exc:
            raise InputError(f"key list {name} entry {n}: {exc}") from exc
        station = str(entry.get("station_id") or key_id(public))
        if entry.get("key_id") not in (None, key_id(public)):
            raise InputError(
                f"key list {name} entry {n} ({station}) names key id {entry['key_id']}, but its "
                f"public key's id is {key_id(public)}: the list was altered"
            )
        revoked = entry.get("revoked_at")
        keys[key_id(public)] = TrustedKey(public, station, str(revoked) if revoked else None)
    return keys


def trusted_key(text_or_file: str) -> dict[str, TrustedKey]:
    """One trusted key, given as its base64 text or as a file holding it (a key list line)."""
    path = Path(text_or_file)
    if len(text_or_file) != 44 and path.is_file():
        return read_key_list(path)
    public = public_key_from_text(text_or_file)
    return {key_id(public): TrustedKey(public, "the given key")}


# --- verification ---------------------------------------------------------------------------------


@dataclass
class BundleReport:
    ok: bool
    check_id: str | None = None
    files: int = 0
    audit_entries: int = 0
    station_id: str | None = None
    key_id: str | None = None
    signed_by: str | None = None
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "check_id": self.check_id,
            "files": self.files,
            "audit_entries": self.audit_entries,
            "station_id": self.station_id,
            "key_id": self.key_id,
            "signed_by": self.signed_by,
            "problems": self.problems,
        }


def _unsafe_member(name: str) -> bool:
    if "\\" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return True
    return any(part in ("..", "") for part in PurePosixPath(name).parts) or name.endswith("/..")


def _read_members(source: Path | bytes) -> tuple[dict[str, bytes], list[str]]:
    try:
        zf = zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source)
    except (zipfile.BadZipFile, OSError) as exc:
        return {}, [f"not a readable zip: {exc}"]
    with zf:
        infos = zf.infolist()
        bad = [i.filename for i in infos if _unsafe_member(i.filename)]
        if bad:
            return {}, [f"member {name!r} points outside the bundle; refused" for name in bad]
        if len(infos) > MAX_MEMBERS:
            return {}, [f"the zip has {len(infos)} members; a bundle has far fewer"]
        if sum(i.file_size for i in infos) > MAX_BUNDLE_BYTES:
            return {}, ["the zip expands to more than 2 GB; not an evidence bundle"]
        names = [i.filename for i in infos if not i.is_dir()]
        if len(set(names)) != len(names):
            return {}, ["the zip lists the same member twice"]
        return {n: zf.read(n) for n in names}, []


def _json(data: dict[str, bytes], name: str, problems: list[str]) -> Any:
    try:
        return json.loads(data[name])
    except (KeyError, ValueError) as exc:
        problems.append(f"{name} is missing or not JSON ({exc})")
        return None


def _check_signatures(
    data: dict[str, bytes],
    manifest: dict[str, Any],
    sig: dict[str, Any],
    check_id: str,
    public: bytes,
) -> list[str]:
    """What was changed after signing, by name; empty when every signature holds."""
    problems: list[str] = []

    def holds(signature: Any, statement: bytes) -> bool:
        try:
            raw = base64.b64decode(str(signature), validate=True)
        except ValueError:
            return False
        return verify_signature(public, raw, statement)

    file_sigs: dict[str, Any] = sig.get("files") or {}
    for name, blob in sorted(data.items()):
        if name in OUTER:
            continue
        digest = hashlib.sha256(blob).hexdigest()
        if name not in file_sigs:
            problems.append(f"{name} was added after the station signed the bundle")
        elif not holds(file_sigs[name], _file_statement(check_id, name, digest)):
            problems.append(f"{name} was changed after the station signed it")
    for name in sorted(file_sigs):
        if name not in data:
            problems.append(f"{name} was removed from the bundle after signing")
    if not holds(sig.get("manifest"), data["manifest.json"]):
        field_sigs: dict[str, Any] = sig.get("fields") or {}
        named = False
        for name, value in manifest.items():
            if name == "files":
                continue
            if name not in field_sigs or not holds(
                field_sigs[name], _field_statement(check_id, name, value)
            ):
                problems.append(f"manifest field {name!r} was changed after signing")
                named = True
        for name in field_sigs:
            if name not in manifest:
                problems.append(f"manifest field {name!r} was removed after signing")
                named = True
        if not named:
            problems.append("manifest.json was changed after the station signed it")
    return problems


def verify_bundle(
    source: Path | bytes, trusted: dict[str, TrustedKey] | None = None
) -> BundleReport:
    """Check a bundle without the station's database.

    ``trusted`` maps key ids to the keys the verifier trusts; a bundle verifies only when it is
    signed by one of them and nothing changed since. Hashes, image names and the audit
    entries' chain are checked as well, so every problem is named."""
    data, problems = _read_members(source)
    if problems:
        return BundleReport(False, problems=problems)
    for required in ("SHA256SUMS", "manifest.json", "SIGNATURE.json", "check.json", "audit.json"):
        if required not in data:
            problems.append(f"{required} is missing")
    if problems:
        return BundleReport(False, problems=problems)
    manifest = _json(data, "manifest.json", problems)
    sig = _json(data, "SIGNATURE.json", problems)
    check = _json(data, "check.json", problems)
    entries = _json(data, "audit.json", problems)
    if not (
        isinstance(manifest, dict)
        and isinstance(sig, dict)
        and isinstance(check, dict)
        and isinstance(entries, list)
    ):
        problems.append("manifest, signature, check or audit document has the wrong shape")
        return BundleReport(False, problems=problems)
    check_id = str(manifest.get("check_id"))
    report = BundleReport(
        False,
        check_id,
        len(data),
        len(entries),
        station_id=str(sig.get("station_id")),
        key_id=str(sig.get("key_id")),
    )
    # 1. the signature, against a key the verifier trusts (never the bundle's own)
    signer = (trusted or {}).get(str(sig.get("key_id")))
    if not trusted:
        problems.append(
            "signature not checked: give the station's public key (--key) or the force key "
            "list (--keys); hashes alone prove nothing"
        )
    elif signer is None:
        problems.append(
            f"signed with key {sig.get('key_id')} (station {sig.get('station_id')!r}), "
            "which is not a trusted key (the key list given does not hold it)"
        )
    else:
        if signer.revoked_at is not None:
            problems.append(
                f"signed with key {signer.key_id} of station {signer.station!r}, which the force "
                f"revoked at {signer.revoked_at}: its signatures are no longer trusted"
            )
        else:
            report.signed_by = signer.station
        problems.extend(_check_signatures(data, manifest, sig, check_id, signer.public))
        cp_doc = _json(data, "checkpoint.json", problems)
        if isinstance(cp_doc, dict):
            try:
                cp = audit.SignedCheckpoint.from_dict(cp_doc)
                if not audit.verify_checkpoint(cp, signer.public):
                    problems.append("checkpoint.json is not signed by the station's key")
            except InputError as exc:
                problems.append(f"checkpoint.json: {exc}")
    # 2. the hashes the files carry about each other (useful without a key too)
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
    covered = manifest.get("files", {})
    for name, blob in data.items():
        if name in OUTER:
            continue
        if name not in covered:
            problems.append(f"{name} is not covered by manifest.json")
        elif hashlib.sha256(blob).hexdigest() != covered[name]:
            problems.append(f"{name} does not match its SHA-256 in manifest.json")
    for img in check.get("images", []):
        name = f"images/{img['role']}-{img['sha256']}.png"
        if name not in data:
            problems.append(f"image {name} named by check.json is missing")
        elif hashlib.sha256(data[name]).hexdigest() != img["sha256"]:
            problems.append(f"image {name} does not hash to the SHA-256 in its name")
    problems.extend(_audit_problems(entries, check.get("id")))
    if check_id != check.get("id"):
        problems.append("manifest.json and check.json name different checks")
    report.problems = list(dict.fromkeys(problems))
    report.ok = not report.problems
    return report


def _audit_problems(entries: list[Any], check_id: Any) -> list[str]:
    problems: list[str] = []
    prev: dict[str, Any] | None = None
    for e in entries:
        try:
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
        except (KeyError, TypeError, ValueError):
            problems.append("audit.json holds an entry that is not an audit entry")
            continue
        if digest != e["hash"]:
            problems.append(f"audit entry {e['id']} does not hash to its recorded hash")
        if prev is not None and e["id"] == prev["id"] + 1 and e["prev_hash"] != prev["hash"]:
            problems.append(f"audit entry {e['id']} does not chain to entry {prev['id']}")
        if e["object_id"] != check_id:
            problems.append(f"audit entry {e['id']} is about another object")
        prev = e
    return problems


def main(argv: list[str] | None = None) -> int:
    """``python -m station.records.evidence BUNDLE.zip KEY``: exit 0 when the bundle verifies."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(
            "usage: python -m station.records.evidence BUNDLE.zip PUBLIC_KEY|KEY_LIST_FILE",
            file=sys.stderr,
        )
        return 2
    report = verify_bundle(Path(args[0]), trusted_key(args[1]))
    print(json.dumps(report.as_dict(), indent=2))
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
