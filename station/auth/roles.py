"""Roles and what each may do. One table, read by the API and shown in the docs."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

Role = Literal["custody", "store", "engineer", "supervisor", "admin", "dealer"]
ROLES: tuple[Role, ...] = ("custody", "store", "engineer", "supervisor", "admin", "dealer")


class Permission(StrEnum):
    CHECK_RUN = "check:run"
    CHECK_READ = "check:read"
    OUTCOME_WRITE = "outcome:write"
    OUTCOME_READ = "outcome:read"
    BATCH_RUN = "batch:run"
    BATCH_READ = "batch:read"
    REGISTER_LOOKUP = "register:lookup"
    REGISTER_IMPORT = "register:import"
    REGISTER_STATS = "register:stats"
    OWNER_READ = "owner:read"
    OWNER_ERASE = "owner:erase"
    EVIDENCE_EXPORT = "evidence:export"
    AUDIT_READ = "audit:read"
    HEALTH_READ = "health:read"
    DOCTOR_RUN = "doctor:run"
    METRICS_READ = "metrics:read"
    USER_ADMIN = "user:admin"
    DEALER_CHECK = "dealer:check"


P = Permission
_STAFF_CHECKS = {P.CHECK_RUN, P.CHECK_READ, P.REGISTER_LOOKUP, P.REGISTER_STATS}

#: custody books items in and checks them one by one; the store also runs bulk checks and
#: tells owners (so it sees owner details); engineers service the box; the supervisor shows
#: that checking happens; a dealer only learns "do not buy" with a reference.
GRANTS: dict[Role, frozenset[Permission]] = {
    "custody": frozenset(_STAFF_CHECKS | {P.OUTCOME_WRITE}),
    "store": frozenset(
        _STAFF_CHECKS | {P.OUTCOME_WRITE, P.OUTCOME_READ, P.BATCH_RUN, P.BATCH_READ, P.OWNER_READ}
    ),
    "engineer": frozenset(
        {P.CHECK_RUN, P.CHECK_READ, P.REGISTER_STATS, P.HEALTH_READ, P.DOCTOR_RUN, P.METRICS_READ}
    ),
    "supervisor": frozenset(
        {
            P.CHECK_READ,
            P.OUTCOME_READ,
            P.OUTCOME_WRITE,
            P.BATCH_READ,
            P.REGISTER_STATS,
            P.EVIDENCE_EXPORT,
            P.AUDIT_READ,
            P.HEALTH_READ,
        }
    ),
    "admin": frozenset(set(Permission) - {P.DEALER_CHECK}),
    "dealer": frozenset({P.DEALER_CHECK}),
}

#: the page each role lands on after logging in
HOME: dict[Role, str] = {
    "custody": "/",
    "store": "/batches",
    "engineer": "/engineer",
    "supervisor": "/outcomes",
    "admin": "/",
    "dealer": "/dealer",
}


def allowed(role: str, permission: Permission) -> bool:
    return permission in GRANTS.get(role, frozenset())  # type: ignore[call-overload]
