"""PacketTable's row selection: the same values whether a column is stored whole or as one value."""

from __future__ import annotations

import numpy as np

from builders import table, tcp


def three_rows():
    return table([tcp("10.0.0.1:40000", "10.0.0.2:80", "S", seq=1, t=0),
                  tcp("10.0.0.2:80", "10.0.0.1:40000", "SA", seq=7, ack=2, t=0.1),
                  tcp("10.0.0.1:40000", "10.0.0.2:80", "A", seq=2, ack=8, t=0.2)])


def test_taking_rows_keeps_constant_columns_as_one_value_and_every_value_right():
    packets = three_rows()
    constant = [name for name, column in packets.columns.items() if column.strides == (0,)]
    assert "proto" in constant and "ts_ns" not in constant
    for index in (np.array([2, 0]), np.array([True, False, True]), np.array([1]), np.array([], dtype=np.int64)):
        taken = packets.take(index)
        for name, column in packets.columns.items():
            expected = np.asarray(column)[index]
            assert taken.columns[name].dtype == column.dtype and np.array_equal(taken.columns[name], expected), name
            if name in constant and len(expected):
                assert taken.columns[name].strides == (0,), name  # not written out row by row
        assert len(taken) == (int(index.sum()) if index.dtype == bool else len(index))


def test_taking_every_row_in_order_shares_the_columns():
    packets = three_rows()
    taken = packets.take(np.arange(3))
    assert all(taken.columns[name] is column for name, column in packets.columns.items())


def test_a_range_of_rows_is_a_view_with_the_same_values():
    packets = three_rows()
    middle = packets.rows(1, 3)
    assert len(middle) == 2 and middle.book is packets.book
    for name, column in packets.columns.items():
        assert np.array_equal(middle.columns[name], column[1:3]) and np.shares_memory(middle.columns[name], column)
    assert len(packets.rows(3, 3)) == 0
