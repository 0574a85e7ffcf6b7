"""Keep Python's cyclic garbage collector out of the way while an analysis builds its many small records.

An analysis of a large capture builds tens of thousands of small records (contexts, observations,
verdicts, findings) beside a packet table and conversation list that are hundreds of thousands of
objects. Every few thousand new records the collector runs a collection and finds nothing to free (the
records form no reference cycles): on a 1M-packet capture that was over half of the reset verdicts' time.
``gc.freeze()`` moves the existing objects out of the collector's sight for the duration, and automatic
collection is paused (the collector's young generations still ran over every new record, and with few
objects left in sight its full collections came often). On the way out the new objects join the old
ones in the oldest generation (frozen and unfrozen together) instead of staying young: the collection
that re-enabling would start at once, over every record just made (the verdicts, which live on), finds
nothing either. No answer changes and nothing stays uncollectable: full collections see everything
again afterwards, and a cycle made inside is freed by the next one.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def older_objects_frozen() -> Iterator[None]:
    """Inside: no automatic collection, and full collections (an explicit ``gc.collect()``) look only at
    objects created inside. A foreign freeze (someone else froze objects first) is left alone, and so is
    a collector the caller switched off. Nested uses (the reset and handshake analyses inside a streamed
    analysis's judging) change nothing: ``gc.get_freeze_count()`` counts the frozen objects one by one,
    which inside an outer freeze is a walk over the whole heap per call."""
    global _depth
    if _depth:
        _depth += 1
        try:
            yield
        finally:
            _depth -= 1
        return
    collecting = gc.isenabled()
    freezing = not gc.get_freeze_count()
    if freezing:
        gc.freeze()
    gc.disable()
    _depth = 1
    try:
        yield
    finally:
        _depth = 0
        if freezing:
            gc.freeze()  # the objects made inside too: all of them go to the oldest generation together
            gc.unfreeze()
        if collecting:
            gc.enable()


_depth = 0  #: how many older_objects_frozen blocks the running code is inside
