"""The in-memory request and seen-identifier stores: single use, time to live, bounds."""

from __future__ import annotations

import threading

import pytest

from idp_bridge.shared.stores import MemoryRequestStore, MemorySeenStore, StoreFull


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_request_is_taken_back_exactly_once():
    store = MemoryRequestStore()
    store.put("id-1", {"return_to": "/x"}, ttl=60)
    assert store.pop("id-1") == {"return_to": "/x"}
    assert store.pop("id-1") is None
    assert store.pop("id-unknown") is None


def test_a_request_past_its_time_to_live_is_gone():
    clock = Clock()
    store = MemoryRequestStore(clock=clock)
    store.put("id-1", {}, ttl=60)
    clock.now += 60
    assert store.pop("id-1") is None


def test_the_request_store_forgets_the_oldest_when_full():
    store = MemoryRequestStore(max_entries=2)
    for key in ("a", "b", "c"):
        store.put(key, {"k": key}, ttl=60)
    assert len(store) == 2
    assert store.pop("a") is None
    assert store.pop("c") == {"k": "c"}


def test_concurrent_pops_give_the_request_to_one_caller_only():
    store = MemoryRequestStore()
    store.put("id-1", {"v": "1"}, ttl=60)
    results, barrier = [], threading.Barrier(8)

    def take():
        barrier.wait()
        results.append(store.pop("id-1"))

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r for r in results if r is not None] == [{"v": "1"}]


def test_an_identifier_is_new_once_until_it_expires():
    clock = Clock()
    store = MemorySeenStore(clock=clock)
    assert store.add("assertion-1", clock.now + 300) is True
    assert store.add("assertion-1", clock.now + 300) is False
    clock.now += 299
    assert store.add("assertion-1", clock.now + 300) is False
    clock.now += 1
    assert len(store) == 0
    assert store.add("assertion-1", clock.now + 300) is True


def test_a_full_seen_store_refuses_rather_than_forget():
    clock = Clock()
    store = MemorySeenStore(max_entries=2, clock=clock)
    store.add("a", clock.now + 10)
    store.add("b", clock.now + 100)
    with pytest.raises(StoreFull):
        store.add("c", clock.now + 100)
    assert store.add("a", clock.now + 10) is False  # still remembered
    clock.now += 10
    assert store.add("c", clock.now + 100) is True  # "a" expired and made room


def test_a_request_can_be_read_without_taking_it():
    clock = Clock()
    store = MemoryRequestStore(clock=clock)
    store.put("id-1", {"return_to": "/x"}, ttl=60)
    assert store.peek("id-1") == {"return_to": "/x"}
    assert store.pop("id-1") == {"return_to": "/x"}
    assert store.peek("id-1") is None and store.peek("unknown") is None
    store.put("id-2", {}, ttl=60)
    clock.now += 60
    assert store.peek("id-2") is None
