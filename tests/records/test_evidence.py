"""A tampered evidence bundle fails verification and the verifier names what changed, even
when the tamperer recomputed every hash (finding: hashes prove nothing on their own)."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from station.checks.service import CheckRequest
from station.cli import app
from station.context import StationContext
from station.errors import InputError
from station.records.evidence import build_bundle, read_key_list, trusted_key, verify_bundle
from station.records.signing import StationKey
from station.settings import StationSettings
from tests.helpers.api import REGISTER_CSV
from tests.helpers.hostile import forge_bundle


@pytest.fixture
def ctx(sqlite_settings: StationSettings, tmp_path: Path) -> Iterator[StationContext]:
    context = StationContext(sqlite_settings)
    register = tmp_path / "register.csv"
    register.write_text(REGISTER_CSV)
    context.matcher.import_file(register, "test", "test", False)
    yield context
    context.close()


@pytest.fixture
def bundle(ctx: StationContext) -> bytes:
    service = ctx.check_service()
    record = service.manual(CheckRequest(officer="pc-1", identifiers=["C02XK1ABJGH5"]))
    for n in range(14):  # a long audit trail about the check: many consultations
        service.get(record.id, actor=f"reader-{n}")
    return build_bundle(service, ctx.images, record.id, "sgt-2", "CPS Northampton", ctx.station_key)


def _key(ctx: StationContext) -> dict:
    return trusted_key(ctx.station_key.public_text)


def test_untouched_bundle_verifies_and_names_the_signing_station(
    ctx: StationContext, bundle: bytes
) -> None:
    report = verify_bundle(bundle, _key(ctx))
    assert report.ok, report.problems
    assert report.station_id == ctx.settings.station_id
    assert report.key_id == ctx.station_key.key_id
    assert report.audit_entries >= 16


def test_changed_verdict_with_recomputed_hashes_is_named(
    ctx: StationContext, bundle: bytes
) -> None:
    def change(files: dict[str, bytes]) -> None:
        doc = json.loads(files["check.json"])
        doc["verdict"] = "no_match"
        files["check.json"] = json.dumps(doc).encode()

    report = verify_bundle(forge_bundle(bundle, change), _key(ctx))
    assert not report.ok
    assert "check.json was changed after the station signed it" in report.problems


def test_cut_audit_trail_is_named(ctx: StationContext, bundle: bytes) -> None:
    def change(files: dict[str, bytes]) -> None:
        files["audit.json"] = json.dumps(json.loads(files["audit.json"])[:2]).encode()

    report = verify_bundle(forge_bundle(bundle, change), _key(ctx))
    assert not report.ok
    assert "audit.json was changed after the station signed it" in report.problems


def test_changed_recipient_is_named(ctx: StationContext, bundle: bytes) -> None:
    def change(files: dict[str, bytes]) -> None:
        doc = json.loads(files["manifest.json"])
        doc["recipient"] = "Defence"
        files["manifest.json"] = json.dumps(doc).encode()

    report = verify_bundle(forge_bundle(bundle, change), _key(ctx))
    assert not report.ok
    assert "manifest field 'recipient' was changed after signing" in report.problems


def test_removed_and_added_files_are_named(ctx: StationContext, bundle: bytes) -> None:
    def change(files: dict[str, bytes]) -> None:
        del files["checkpoint.json"]
        files["notes.txt"] = b"added later"

    report = verify_bundle(forge_bundle(bundle, change), _key(ctx))
    assert "checkpoint.json was removed from the bundle after signing" in report.problems
    assert "notes.txt was added after the station signed the bundle" in report.problems


def test_bundle_resigned_with_another_key_is_not_trusted(
    ctx: StationContext, bundle: bytes, tmp_path: Path
) -> None:
    """The bundle carries its public key; trusting that would let anyone re-sign it."""
    impostor = StationKey.load_or_create(tmp_path / "impostor")

    def resign(files: dict[str, bytes]) -> None:
        sig = json.loads(files["SIGNATURE.json"])
        sig["public_key"], sig["key_id"] = impostor.public_text, impostor.key_id
        files["SIGNATURE.json"] = json.dumps(sig).encode()

    report = verify_bundle(forge_bundle(bundle, resign), _key(ctx))
    assert not report.ok
    assert any("not a trusted key" in p for p in report.problems)


def test_without_a_trusted_key_nothing_is_claimed(bundle: bytes) -> None:
    report = verify_bundle(bundle)
    assert not report.ok
    assert any("signature not checked" in p for p in report.problems)


def test_member_outside_the_bundle_is_refused(ctx: StationContext, bundle: bytes) -> None:
    with zipfile.ZipFile(io.BytesIO(bundle)) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for n, d in files.items():
            zf.writestr(n, d)
        zf.writestr("../../etc/cron.d/evil", b"* * * * * root true\n")
    report = verify_bundle(out.getvalue(), _key(ctx))
    assert not report.ok
    assert report.problems == ["member '../../etc/cron.d/evil' points outside the bundle; refused"]


def test_cli_verifies_against_the_force_key_list_and_names_the_station(
    ctx: StationContext, bundle: bytes, tmp_path: Path
) -> None:
    other = StationKey.load_or_create(tmp_path / "other")
    keys = tmp_path / "force-keys.txt"
    keys.write_text(
        "# Northamptonshire stations\n"
        f"{other.public_text} custody-suite-2\n"
        f"{ctx.station_key.public_text} property-store-1\n"
    )
    assert len(read_key_list(keys)) == 2
    good, bad = tmp_path / "good.zip", tmp_path / "bad.zip"
    good.write_bytes(bundle)
    bad.write_bytes(forge_bundle(bundle, lambda files: files.update({"VERIFY.txt": b"x"})))
    runner = CliRunner()
    ok = runner.invoke(app, ["evidence", "verify", str(good), "--keys", str(keys)])
    assert ok.exit_code == 0, ok.output
    assert "signed by property-store-1" in ok.output
    no = runner.invoke(app, ["evidence", "verify", str(bad), "--keys", str(keys)])
    assert no.exit_code == 1
    assert "VERIFY.txt was changed after the station signed it" in no.output
    unsigned = runner.invoke(app, ["evidence", "verify", str(good)])
    assert unsigned.exit_code == 1 and "--key" in unsigned.output


def _force_keys(tmp_path: Path, *entries: tuple[StationKey, str, str | None]) -> Path:
    """A key list as the centre exports it (`station central keys`)."""
    path = tmp_path / "force-keys.json"
    doc = {"keys": [{"station_id": station, "key_id": key.key_id, "public_key": key.public_text,
                     "enrolled_at": "2026-11-30T09:00:00+00:00", "revoked_at": revoked}
                    for key, station, revoked in entries]}  # fmt: skip
    path.write_text(json.dumps(doc, indent=2))
    return path


def test_the_centres_json_key_list_trusts_enrolled_keys_and_names_revoked_ones(
    ctx: StationContext, bundle: bytes, tmp_path: Path
) -> None:
    other = StationKey.load_or_create(tmp_path / "other")
    enrolled = read_key_list(_force_keys(tmp_path, (other, "desk-2", None), (ctx.station_key, "store-1", None)))  # fmt: skip
    report = verify_bundle(bundle, enrolled)
    assert report.ok, report.problems
    assert report.signed_by == "store-1"
    revoked_at = "2026-12-01T10:00:00+00:00"
    revoked = read_key_list(_force_keys(tmp_path, (ctx.station_key, "store-1", revoked_at)))
    report = verify_bundle(bundle, revoked)
    assert not report.ok and report.signed_by is None
    assert report.problems == [
        f"signed with key {ctx.station_key.key_id} of station 'store-1', which the force revoked "
        f"at {revoked_at}: its signatures are no longer trusted"
    ]
    unknown = verify_bundle(bundle, read_key_list(_force_keys(tmp_path, (other, "desk-2", None))))
    assert not unknown.ok
    assert any("not a trusted key" in p for p in unknown.problems)


def test_a_json_key_list_whose_key_ids_were_altered_is_refused(
    ctx: StationContext, tmp_path: Path
) -> None:
    other = StationKey.load_or_create(tmp_path / "other")
    path = _force_keys(tmp_path, (ctx.station_key, "store-1", None))
    doc = json.loads(path.read_text())
    doc["keys"][0]["key_id"] = other.key_id  # passes another's key off as this station's
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match="the list was altered"):
        read_key_list(path)
    path.write_text('{"stations": []}')
    with pytest.raises(InputError, match="not the centre's JSON key list"):
        read_key_list(path)
