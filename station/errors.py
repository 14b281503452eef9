"""The one exception hierarchy of the station.

Every error the station reports says what went wrong (the message) and the one thing the
operator should do about it (the class's ``fix``, which a subclass or a raise may sharpen).
The CLI prints both and exits with ``exit_code``; the API answers with both in its JSON body.
"""

from __future__ import annotations


class StationError(Exception):
    """Base for every error the station reports to an operator."""

    #: process exit status used by the CLI when this error ends a command
    exit_code: int = 1
    #: what the operator should do; shown beside the message by the CLI and the API
    fix: str = "try again; if it happens again, give the station engineer this message"

    def __init__(self, message: str = "", *, fix: str | None = None) -> None:
        super().__init__(message)
        if fix is not None:
            self.fix = fix


# --- settings -----------------------------------------------------------------------------------


class ConfigError(StationError):
    """Settings are missing or contradictory."""

    exit_code = 2
    fix = "correct the setting named above (STATION_* variable, --config file or flag)"


# --- devices --------------------------------------------------------------------------------------


class DeviceError(StationError):
    """A hardware device failed or refused."""

    exit_code = 3
    fix = "run `station doctor` and call the station engineer if a part fails"


class LinkError(DeviceError):
    """The serial link to the lamp controller is not usable."""

    fix = "check the lamp controller's USB cable and power, then run `station doctor`"


class LinkTimeout(LinkError):
    """The lamp controller did not answer in time."""


class LinkLost(LinkError):
    """The serial port went away (unplugged, powered off) mid-operation."""

    fix = "reconnect the lamp controller's USB cable, then run `station doctor`"


class ProtocolError(LinkError):
    """The controller sent a frame that does not read as the message it claims to be."""

    fix = "flash lamp-controller firmware that speaks protocol 1.x, then run `station doctor`"


class ProtocolVersionMismatch(DeviceError):
    """The controller speaks a protocol major version the station does not."""

    fix = "update the lamp controller's firmware or the station software so their versions match"


class InterlockOpen(DeviceError):
    """UV was requested while the lid is open."""

    fix = "close the lid, then start the check again"


class ControllerReset(DeviceError):
    """The controller rebooted mid-operation; the running check is aborted."""

    fix = "start the check again; if the controller keeps resetting, call the station engineer"


class LampFault(DeviceError):
    """The controller reports a lamp fault (no strike, low current, over-temperature)."""

    fix = "call the station engineer: a lamp did not light as commanded"


class CameraError(DeviceError):
    """The camera did not deliver a usable frame."""

    fix = "check the camera cable, then run `station doctor`"


class CameraDisconnected(CameraError):
    """The camera went away mid-capture."""

    fix = "reconnect the camera, then run `station doctor`"


class CameraTimeout(CameraError):
    """The camera delivered no frame in time."""


# --- input ----------------------------------------------------------------------------------------


class InputError(StationError):
    """Bad input from a user or a file: the message names it."""

    exit_code = 2
    fix = "correct the input named above and try again"


class ImageInputError(InputError):
    """An image file cannot be used (missing, unreadable, wrong size)."""

    fix = "give a readable PNG, JPEG, WebP, BMP or TIFF photograph"


class IdentifierRejected(InputError):
    """An identifier is empty, too long, non-printable or otherwise unusable."""

    fix = "type the identifier as printed on the item (letters, digits, hyphens)"


class TooManyIdentifiers(InputError):
    """More identifiers in one look-up request than one check record holds."""

    fix = (
        "send a longer list as a batch: POST /api/batches (a CSV, one identifier a row), "
        "`station batch FILE` or `station check - < FILE`"
    )


class OutcomeContradicts(InputError):
    """An outcome contradicts one already recorded for the check (e.g. returned after disposed)."""

    fix = "check what is already recorded; record it anyway only if the record really was wrong"


class RegisterImportError(InputError):
    """A register file was rejected; nothing from it was stored."""

    fix = "correct the rows listed (see docs/register-format.md) and import the file again"

    def __init__(
        self, message: str, problems: list[tuple[int, str]] | None = None, *, fix: str | None = None
    ) -> None:
        super().__init__(message, fix=fix)
        #: (line number, reason) for each bad row
        self.problems: list[tuple[int, str]] = problems or []


class UploadTooLarge(InputError):
    """An upload is over the configured size limit."""

    fix = "split the upload, or use a resumable upload for large files"


class UploadRejected(InputError):
    """An uploaded file was rejected; ``problems`` lists (line or member, reason)."""

    fix = "correct the file (the lines or members listed) and upload it again"

    def __init__(
        self,
        message: str,
        problems: list[tuple[int | str, str]] | None = None,
        *,
        fix: str | None = None,
    ) -> None:
        super().__init__(message, fix=fix)
        self.problems: list[tuple[int | str, str]] = problems or []


# --- records and the register ---------------------------------------------------------------------


class NotFound(StationError):
    """A record that was asked for does not exist."""

    exit_code = 4
    fix = "check the id; list recent records with the checks page or the API"


class IndexFileError(StationError):
    """A persisted register index is missing, damaged or of another format version."""

    fix = "delete the index folder named above; the station rebuilds it from the database"


class AuditChainBroken(StationError):
    """The audit log's hash chain does not verify: entries were changed or removed."""

    exit_code = 5
    fix = (
        "preserve the database as it is (copy it, change nothing) and report it to the force's "
        "information-security officer"
    )


# --- reading --------------------------------------------------------------------------------------


class OcrUnavailable(StationError):
    """The OCR engine is not installed or failed to run."""

    fix = "install the OCR engine (run scripts/setup.sh) and run `station doctor`"
