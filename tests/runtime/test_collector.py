"""The collector guard around the reset and handshake stages leaves the collector as it found it."""

from __future__ import annotations

import gc

from netreset.runtime.collector import older_objects_frozen


def test_collection_is_paused_inside_and_restored_after():
    assert gc.isenabled()
    before = gc.get_freeze_count()
    with older_objects_frozen():
        assert not gc.isenabled()
        assert gc.get_freeze_count() >= before
        with older_objects_frozen():  # nested: still paused, and the outer guard restores
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled() and gc.get_freeze_count() == before


def test_a_collector_switched_off_by_the_caller_stays_off():
    gc.disable()
    try:
        with older_objects_frozen():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_cycles_made_inside_are_collected_afterwards():
    class Node:
        pass

    with older_objects_frozen():
        a, b = Node(), Node()
        a.other, b.other = b, a
        del a, b
    assert gc.collect() >= 2


def test_nested_guards_do_not_count_the_frozen_objects_again(monkeypatch):
    """gc.get_freeze_count walks every frozen object: only the outermost guard may ask it."""
    calls = []
    count = gc.get_freeze_count
    monkeypatch.setattr(gc, "get_freeze_count", lambda: calls.append(1) or count())
    with older_objects_frozen():
        for _ in range(3):
            try:
                with older_objects_frozen():
                    raise ValueError("inside")
            except ValueError:
                pass
        assert not gc.isenabled()
    assert len(calls) == 1 and gc.isenabled()
    with older_objects_frozen():  # a later outermost guard asks again
        pass
    assert len(calls) == 2
