"""authz/events.py: publishing in the action's transaction, subscribers, muting."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from datetime import datetime

import pytest

from authz import db, events
from authz.events import Contact, EnterpriseRef
from authz.models import Enterprise

ACME = EnterpriseRef(bce="0012345675", name="Acme Demo SA")
NORA = Contact(name="Nora Benali", email="nora@example.test", language="nl")


def expired(request_id: int = 1) -> events.RequestExpired:
    return events.RequestExpired(
        ACME, request_id=request_id, requester=NORA, role="agent", created_at=datetime(2026, 1, 1)
    )


def test_subscribers_run_in_order_once_each_and_for_the_base_class_too(database):
    heard: list[tuple[str, object]] = []

    def first(event):
        heard.append(("first", event))

    def second(event):
        heard.append(("second", event))

    def every(event):
        heard.append(("every", event))

    events.subscribe(events.RequestExpired, first)
    events.subscribe(events.RequestExpired, second)
    events.subscribe(events.RequestExpired, first)  # no effect: already subscribed
    events.subscribe(events.Event, every)
    events.subscribe(events.RequestWithdrawn, every)  # another event: not called
    event = expired()
    with db.transaction():
        events.publish(event)
    assert heard == [("first", event), ("second", event), ("every", event)]

    events.unsubscribe(events.RequestExpired, first)
    heard.clear()
    with db.transaction():
        events.publish(event)
    assert [name for name, _ in heard] == ["second", "every"]


def test_publishing_outside_a_transaction_is_refused(database):
    events.subscribe(events.RequestExpired, lambda event: None)
    with pytest.raises(RuntimeError, match="inside the action's transaction"):
        events.publish(expired())


def test_a_subscriber_writes_in_the_action_transaction_and_its_failure_undoes_it(database):
    class Refused(Exception):
        pass

    def rename(event):
        Enterprise.update(name="renamed").where(Enterprise.bce == event.enterprise.bce).execute()

    def fail(event):
        raise Refused

    Enterprise.create(bce=ACME.bce, name=ACME.name)
    events.subscribe(events.RequestExpired, rename)
    events.subscribe(events.RequestExpired, fail)
    with pytest.raises(Refused), db.transaction():
        Enterprise.update(legal_form="asbl").where(Enterprise.bce == ACME.bce).execute()
        events.publish(expired())
    after = Enterprise.get(Enterprise.bce == ACME.bce)
    assert (after.name, after.legal_form) == (ACME.name, "company")

    events.unsubscribe(events.RequestExpired, fail)
    with db.transaction():
        events.publish(expired())
    assert Enterprise.get(Enterprise.bce == ACME.bce).name == "renamed"


def test_muted_publishes_nothing_and_ends_with_its_block(database):
    heard = []
    events.subscribe(events.RequestExpired, heard.append)
    with pytest.raises(ZeroDivisionError), events.muted(), db.transaction():
        events.publish(expired(1))
        events.publish(expired(2))
        1 / 0  # noqa: B018 (the block ends with an error)
    assert heard == []
    with events.muted():
        events.publish(expired(3))  # muted: not even the transaction is asked for
    with db.transaction():
        events.publish(expired(4))
    assert [event.request_id for event in heard] == [4]


def test_subscriptions_are_restored_as_saved(database):
    saved = events.subscriptions()
    events.subscribe(events.RequestExpired, print)
    assert print in events.subscriptions()[events.RequestExpired]
    events.restore(saved)
    assert print not in events.subscriptions().get(events.RequestExpired, [])


def test_events_are_frozen_plain_values():
    event = expired()
    with pytest.raises(FrozenInstanceError):
        event.role = "owner"  # type: ignore[misc]
    assert event.enterprise == EnterpriseRef("0012345675", "Acme Demo SA")
    assert Contact(name="").email is None and Contact(name="").language is None
