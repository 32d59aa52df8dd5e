"""authz/helpdesk.py: a person's audit events found by exact match on an index, a page at a
time; an enterprise's by its BCE number. (The pages: tests/admin_ui/test_helpdesk.py.)"""

from __future__ import annotations

from authz import audit, db, helpdesk

PERSON = "85073003361"


def _events(count: int, nrn: str | None = None) -> list[dict]:
    return [
        {
            "actor": "cli",
            "action": "role.grant",
            "target_type": "role_grant",
            "target_id": k,
            "enterprise_bce": "0123456749" if k % 2 else "0403170701",
            "details": {"person": nrn or f"{k:011d}"},
            "policy_version": "test",
        }
        for k in range(count)
    ]


def test_a_persons_events_a_page_at_a_time_newest_first(database):
    audit.record_many(_events(2000) + _events(30, PERSON) + _events(2000))
    first = helpdesk.person_events(PERSON, 1, size=25)
    assert first.total == 30 and first.pages == 2 and len(first.rows) == 25
    assert [e.seq for e in first.rows] == sorted((e.seq for e in first.rows), reverse=True)
    last = helpdesk.person_events(PERSON, 99, size=25)
    assert last.page == 2 and len(last.rows) == 5
    assert {e.seq for e in first.rows + last.rows} == set(range(2001, 2031))
    assert helpdesk.person_events("93051822361", 1).total == 0


def test_an_enterprises_events_a_page_at_a_time(database):
    audit.record_many(_events(300))
    found = helpdesk.enterprise_events("0123456749", 2, size=25)
    assert found.total == 150 and found.page == 2 and len(found.rows) == 25
    assert all(e.enterprise_bce == "0123456749" for e in found.rows)


def test_a_persons_events_are_read_through_the_index_not_the_log(database):
    """The query plan: the mentions' key (nrn) and the log's seq index, never a scan of the
    log nor a LIKE on its details."""
    audit.record_many(_events(3000) + _events(5, PERSON))
    sql, params = helpdesk.person_events_query(PERSON).limit(25).sql()
    assert "LIKE" not in sql.upper()
    if db.is_postgresql():
        db.database.execute_sql("ANALYZE audit_event")
        db.database.execute_sql("ANALYZE audit_mention")
        plan = " ".join(row[0] for row in db.database.execute_sql("EXPLAIN " + sql, params))
        assert "Seq Scan on audit_event" not in plan, plan
        assert "audit_mention_pkey" in plan, plan
    else:
        plan = " ".join(
            str(row[-1]) for row in db.database.execute_sql("EXPLAIN QUERY PLAN " + sql, params)
        )
        assert "SCAN audit_event" not in plan, plan
        assert "audit_mention" in plan and "nrn=?" in plan, plan
