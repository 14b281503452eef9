"""A stateful property test of the whole force: stations check, links are cut and restored,
the centre imports register versions, in any order. Whatever happened, once the links are
back every record exists exactly once centrally, every station's chain verifies there end to
end, every station's index version equals its register version (the centre's latest), and
checks finish while a station's link is down."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select

from station.db.fleet_models import OutboxItem
from station.fleet.ingest import verify_station_chain
from station.records import audit
from station.register.service import RegisterMatcher
from station.settings import MatcherSettings
from tests.helpers.fleet import Force, SimStation, central_import, register_file

WAIT = 180
EXAMPLES = 4
STATIONS = 3


def test_the_force_holds_its_invariants_under_any_interleaving(
    force: Force, tmp_path: Path
) -> None:
    pool = [force.add_station(f"st-{n}-{i}") for n in range(EXAMPLES + 2) for i in range(STATIONS)]
    force.start_server()
    force.start_central()
    central_import(force, register_file(tmp_path / "r0.csv", ["HYP000000"]))
    state = {"next": 0, "files": 0}

    class ForceMachine(RuleBasedStateMachine):
        @initialize()
        def stations(self) -> None:
            start = state["next"] * STATIONS
            state["next"] += 1
            self.stations: list[SimStation] = pool[start : start + STATIONS]
            self.cut: set[str] = set()
            self.ids: list[str] = []
            for s in self.stations:
                force.enrol(s)
                force.link(s)

        @rule(i=st.integers(0, STATIONS - 1), serial=st.integers(0, 10**6))
        def check(self, i: int, serial: int) -> None:
            s = self.stations[i]
            record_id = s.check(f"HYP{serial:06d}")
            assert s.service.get(record_id, audit_read=False).state == "complete"
            self.ids.append(record_id)

        @precondition(lambda self: len(self.cut) < STATIONS)
        @rule(i=st.integers(0, STATIONS - 1))
        def cut_link(self, i: int) -> None:
            s = self.stations[i]
            force.proxies[s.station_id].cut()
            self.cut.add(s.station_id)

        @precondition(lambda self: bool(self.cut))
        @rule()
        def restore_links(self) -> None:
            for sid in self.cut:
                force.proxies[sid].restore()
            self.cut.clear()

        @rule(n=st.integers(1, 5))
        def import_register(self, n: int) -> None:
            state["files"] += 1
            k = state["files"]
            serials = [f"R{k:03d}{j:05d}" for j in range(n)]
            central_import(force, register_file(tmp_path / f"r{k}.csv", serials))

        @invariant()
        def a_station_index_answers_from_its_register_version(self) -> None:
            for s in self.stations:  # a delta may land meanwhile: bracket the index's version
                before = s.register_version()
                answering = s.ctx.matcher.version
                assert before <= answering <= s.register_version()

        def teardown(self) -> None:
            self.restore_links()
            latest = _latest(force)
            for s in self.stations:
                assert s.link is not None
                assert s.link.wait_for(lambda s=s: s.register_version() == latest, WAIT)
                assert s.link.wait_for(lambda s=s: _settled(s), WAIT), s.outbox_states()
                assert s.ctx.matcher.version == latest
            held = force.central_records()
            for record_id in self.ids:
                assert held.get(record_id) == 1
            with force.db.session() as cs:
                for s in self.stations:
                    report = verify_station_chain(cs, s.station_id)
                    with s.ctx.db.session() as ls:
                        assert report.ok and report.entries == audit.head(ls)[0], report
            for s in self.stations:
                assert s.link is not None
                s.link.stop()
                s.link = None

    run_state_machine_as_test(
        ForceMachine,
        settings=settings(
            max_examples=EXAMPLES,
            phases=(Phase.generate,),  # each example is a whole force: no shrinking replays
            stateful_step_count=8,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        ),
    )


def _latest(force: Force) -> int:
    return RegisterMatcher(force.db, MatcherSettings()).db_version()


def _settled(s: SimStation) -> bool:
    """Every message has its receipt, and the audit head is covered by the last one."""
    with s.ctx.db.session() as ls:
        head = audit.head(ls)[0]
        covered = ls.execute(select(func.coalesce(func.max(OutboxItem.audit_to), 0))).scalar_one()
    return s.all_committed() and covered == head
