"""Registers: import a file, statistics, look-ups; and the dealer's do-not-buy check."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from station.api.deps import State, require
from station.api.uploads_route import receive_upload
from station.auth.roles import Permission
from station.auth.users import Principal
from station.checks.service import CheckRequest
from station.db.models import Owner
from station.errors import InputError, NotFound
from station.records import audit

router = APIRouter(prefix="/api", tags=["register"])
P = Permission


@router.post("/register/imports", status_code=status.HTTP_201_CREATED)
async def import_register(
    request: Request,
    state: State,
    who: Annotated[Principal, Depends(require(P.REGISTER_IMPORT))],
    filename: Annotated[str, Query(min_length=1, max_length=300)],
    source: Annotated[str | None, Query(max_length=100)] = None,
) -> dict[str, Any]:
    """Import a register file sent as the raw body: all rows or nothing (422 lists bad lines)."""
    suffix = Path(filename).suffix.lower()
    if suffix not in (".csv", ".jsonl", ".xlsx", ".json"):
        raise InputError(f"{filename}: register files are .csv, .jsonl or .xlsx")
    named = await receive_upload(request, state, suffix)
    matcher = state.ctx.matcher

    def import_and_index() -> dict[str, Any]:
        summary = matcher.import_file(named, source, who.username, False)
        matcher.index()  # caught up (and saved) now, not by the next check
        return summary

    try:
        result: dict[str, Any] = await run_in_threadpool(import_and_index)
    finally:
        named.unlink(missing_ok=True)
    return result


@router.get("/register/stats")
def register_stats(
    state: State, who: Annotated[Principal, Depends(require(P.REGISTER_STATS))]
) -> dict[str, Any]:
    stats: dict[str, Any] = state.ctx.matcher.stats()
    return stats


@router.get("/register/lookup")
def register_lookup(
    state: State,
    who: Annotated[Principal, Depends(require(P.REGISTER_LOOKUP))],
    q: Annotated[str, Query(min_length=1, max_length=64, description="identifier to look up")],
    kind: str | None = None,
) -> dict[str, Any]:
    """One identifier against the registers (a consultation, audited; not a check record)."""
    result = state.ctx.matcher.lookup(q, kind)
    with state.ctx.db.writer() as s:
        audit.append(
            s, who.username, "consultation", "register", q[:64], {"verdict": result.verdict}
        )
    return result.model_dump(mode="json")


class DealerQuery(BaseModel):
    identifier: str = Field(min_length=1, max_length=64)


class DealerAnswer(BaseModel):
    """All a dealer learns: whether to buy, and a reference to quote to the police."""

    advice: str
    do_not_buy: bool
    reference: str


#: only an exact hit on these statuses means the item must not be bought
NOT_FOR_SALE = ("stolen", "lost")


def dealer_advice(matches: list[Any]) -> tuple[str, bool]:
    """What to tell a dealer: "do not buy" only for an exact stolen/lost entry; a near miss
    means "check with the police" (a typo must not cost an honest seller a sale); entries of
    recovered items or registered owners are not reasons to refuse."""
    near = False
    for m in matches:
        for c in m.candidates:
            if c.status not in NOT_FOR_SALE:
                continue
            if c.distance == 0 and not c.edits and m.verdict == "match":
                return "Do not buy — contact police and quote the reference.", True
            near = True
    if near:
        return (
            "Check with the police before buying: a register entry is close to this identifier. "
            "Quote the reference.",
            False,
        )
    return "No record found. This is not proof of ownership; keep the usual checks.", False


@router.post(
    "/dealer/check",
    response_model=DealerAnswer,
    responses={429: {"description": "too many look-ups from this dealer account"}},
)
def dealer_check(
    query: DealerQuery,
    state: State,
    who: Annotated[Principal, Depends(require(P.DEALER_CHECK))],
) -> Response | DealerAnswer:
    """Recorded as a dealer check; never reveals crime, register or owner details.

    Rate-limited per dealer account, so the register cannot be walked through this door."""
    wait = state.dealer_limit.take(who.username)
    if wait > 0:
        return JSONResponse(
            {
                "detail": "too many look-ups from this account; try again later",
                "fix": f"wait {int(wait) + 1} s; a dealer checks items as they are offered",
            },
            status_code=429,
            headers={"Retry-After": str(int(wait) + 1)},
        )
    record = state.service().manual(
        CheckRequest(purpose="dealer_check", officer=who.username, identifiers=[query.identifier])
    )
    advice, do_not_buy = dealer_advice(list(record.matches))
    return DealerAnswer(advice=advice, do_not_buy=do_not_buy, reference=record.id)


@router.delete("/owners/{owner_ref}")
def erase_owner(
    owner_ref: str,
    state: State,
    who: Annotated[Principal, Depends(require(P.OWNER_ERASE))],
) -> dict[str, str]:
    """Erase an owner's personal data (register entries keep only the reference); audited."""
    with state.ctx.db.writer() as s:
        owner = s.execute(select(Owner).where(Owner.owner_ref == owner_ref)).scalar()
        if owner is None:
            raise NotFound(f"no owner with reference {owner_ref!r}")
        s.delete(owner)
        audit.append(s, who.username, "erasure", "owner", owner_ref, {"fields": "all"})
    return {"erased": owner_ref}
