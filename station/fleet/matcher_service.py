"""The central matcher: look-ups over NATS request/reply, in a queue group.

Every replica subscribes to ``central.lookup`` in the queue group ``matchers``, so NATS hands
each request to one of them: more replicas carry more load, and one stopping loses nothing but
its in-flight answers (the asking station keeps its look-up queued and asks again).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from station.fleet import messages as m

MAX_VALUES = 500


def prepare_matcher(matcher: Any) -> None:
    """Load the kernels' machine code and build the index before the first request.

    A replica that answered before would spend its first requests compiling and building
    (minutes on a large register) while stations wait, and would answer every later one
    with the uncompiled probe meant for one-shot commands."""
    from station.matcher.jit import warm

    warm()
    matcher.index()


async def serve_matcher(nc: Client, matcher: Any, replica: str = "") -> Subscription:
    """Answer ``{"values": [{"value", "kind"}, ...]}`` with the register's match documents;
    ``replica`` names this replica in every answer (default: host and process id)."""
    replica = replica or f"{socket.gethostname()}:{os.getpid()}"

    def answer(request: dict[str, Any]) -> dict[str, Any]:
        values = request.get("values", [])[:MAX_VALUES]
        results = [
            matcher.lookup(str(v["value"]), v.get("kind")).model_dump(mode="json") for v in values
        ]
        return {"ok": True, "version": matcher.version, "replica": replica, "results": results}

    async def on_request(msg: Msg) -> None:
        try:
            reply = await asyncio.to_thread(answer, json.loads(msg.data))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            reply = {"ok": False, "error": f"bad look-up request: {exc}"}
        await msg.respond(m.canonical(reply))

    return await nc.subscribe(m.LOOKUP_SUBJECT, queue=m.MATCHER_QUEUE, cb=on_request)
