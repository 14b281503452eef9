"""Domain exceptions. Every message says what went wrong and, where it can, what to do."""

from __future__ import annotations


class StationError(Exception):
    """Base for every error the station reports to an operator."""

    #: process exit status used by the CLI when this error ends a command
    exit_code: int = 1


class ConfigError(StationError):
    """Settings are missing or contradictory."""

    exit_code = 2


class DeviceError(StationError):
    """A hardware device failed or refused."""

    exit_code = 3


class LinkTimeout(DeviceError):
    """The lamp controller did not answer in time."""


class ProtocolVersionMismatch(DeviceError):
    """The controller speaks a protocol major version the station does not."""


class InterlockOpen(DeviceError):
    """UV was requested while the lid is open."""


class ControllerReset(DeviceError):
    """The controller rebooted mid-operation; the running check is aborted."""


class CameraError(DeviceError):
    """The camera did not deliver a usable frame."""


class InputError(StationError):
    """Bad input from a user or a file: the message names it."""

    exit_code = 2


class ImageInputError(InputError):
    """An image file cannot be used (missing, unreadable, wrong size)."""


class IdentifierRejected(InputError):
    """An identifier is empty, too long, non-printable or otherwise unusable."""


class TooManyIdentifiers(InputError):
    """More identifiers in one look-up request than one check record holds."""


class RegisterImportError(InputError):
    """A register file was rejected; nothing from it was stored."""

    def __init__(self, message: str, problems: list[tuple[int, str]] | None = None) -> None:
        super().__init__(message)
        #: (line number, reason) for each bad row
        self.problems: list[tuple[int, str]] = problems or []


class NotFound(StationError):
    """A record that was asked for does not exist."""

    exit_code = 4


class AuditChainBroken(StationError):
    """The audit log's hash chain does not verify."""

    exit_code = 5
