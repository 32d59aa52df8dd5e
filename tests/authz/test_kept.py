"""What a process keeps until a revocation is announced (authz/kept.py): kept once found,
never an absence, read again when not usable, dropped when the tracker's revocation count
moves, bounded; nothing kept without a tracker. (Through the OpenID provider's token records
and persons' claims, across processes: tests/flows/test_multiprocess_tokens.py.)"""

from __future__ import annotations

import pytest

from authz import epochs
from authz.kept import KeptUntilRevoked


@pytest.fixture
def tracker(started_tracker):
    return started_tracker


class Source:
    """Values by key, counting the reads."""

    def __init__(self, **values):
        self.values, self.reads = values, 0

    def fetch(self, key):
        def read():
            self.reads += 1
            return self.values.get(key)

        return read


def test_a_value_is_read_once_then_kept(tracker):
    kept, source = KeptUntilRevoked(lambda: tracker, maxsize=10), Source(a=1)
    assert [kept.read("a", source.fetch("a")) for _ in range(3)] == [1, 1, 1]
    assert (source.reads, kept.hits, kept.misses) == (1, 2, 1)


def test_an_absence_is_never_kept(tracker):
    kept, source = KeptUntilRevoked(lambda: tracker, maxsize=10), Source()
    assert kept.read("a", source.fetch("a")) is None
    source.values["a"] = 1
    assert kept.read("a", source.fetch("a")) == 1


def test_a_value_no_longer_usable_is_read_again(tracker):
    kept, source = KeptUntilRevoked(lambda: tracker, maxsize=10), Source(a=1)
    kept.read("a", source.fetch("a"))
    source.values["a"] = 2
    assert kept.read("a", source.fetch("a"), usable=lambda value: value > 1) == 2
    assert source.reads == 2


def test_a_revocation_drops_everything_kept(tracker):
    kept, source = KeptUntilRevoked(lambda: tracker, maxsize=10), Source(a=1, b=2)
    kept.read("a", source.fetch("a"))
    kept.read("b", source.fetch("b"))
    source.values.update(a=10, b=20)
    epochs.revocation_committed()  # what a commit that called epochs.revoked() runs here
    assert (kept.read("a", source.fetch("a")), kept.read("b", source.fetch("b"))) == (10, 20)


def test_what_is_kept_is_bounded(tracker):
    kept = KeptUntilRevoked(lambda: tracker, maxsize=3)
    source = Source(**{f"k{n}": n for n in range(5)})
    for n in range(5):
        kept.read(f"k{n}", source.fetch(f"k{n}"))
    assert len(kept) == kept.maxsize == 3


def test_without_a_tracker_nothing_is_kept(database):
    kept, source = KeptUntilRevoked(lambda: None, maxsize=10), Source(a=1)
    assert [kept.read("a", source.fetch("a")) for _ in range(2)] == [1, 1]
    assert (source.reads, len(kept)) == (2, 0)
