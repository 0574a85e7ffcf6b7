"""The collector guard around the reset and handshake stages leaves the collector as it found it."""

from __future__ import annotations

import gc

from netreset.resets.collector import older_objects_frozen


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
