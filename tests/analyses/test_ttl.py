"""The TTL rule (p0f guess_dist / nmap TG) and the user-overridable TTL table."""

from __future__ import annotations

import pytest

from netreset.errors import UsageError
from netreset.analyses.ttl import default_ttl_table, family_description, guess_ttl, initial_ttl, load_ttl_table


@pytest.mark.parametrize(
    "observed, initial, routers",
    [(61, 64, 3), (107, 128, 21), (64, 64, 0), (65, 128, 63), (128, 128, 0), (129, 255, 126),
     (255, 255, 0), (1, 32, 31), (32, 32, 0), (33, 64, 31), (0, 32, 32)],
)
def test_initial_ttl_is_the_smallest_default_at_or_above_the_observed_value(observed, initial, routers):
    guess = guess_ttl(observed)
    assert (guess.initial, guess.routers_between) == (initial, routers)
    assert guess.traceroute_hop == routers + 1


def test_the_guide_example_reads_ttl_61_as_linux_three_routers_away_check_the_fourth_hop():
    guess = guess_ttl(61)
    assert guess.family == "linux-like"
    assert guess.traceroute_hop == 4
    assert guess.describe() == "TTL 61 (initial 64, 3 routers away)"
    assert guess_ttl(107).family == "windows"


def test_more_than_35_routers_is_ambiguous_and_35_is_not():
    assert not guess_ttl(128 - 35).ambiguous
    assert guess_ttl(128 - 36).ambiguous
    assert guess_ttl(65).ambiguous


def test_out_of_range_ttl_is_rejected():
    with pytest.raises(ValueError):
        guess_ttl(256)
    with pytest.raises(ValueError):
        guess_ttl(-1)


def test_shipped_table_names_every_default_and_cites_its_sources():
    table = default_ttl_table()
    assert table.initial_ttls == (32, 64, 128, 255)
    assert table.max_routers == 35
    assert set(table.families) == set(table.initial_ttls) == set(table.labels)
    assert "Windows" in family_description(128)
    assert "Cisco" in family_description(255)


def test_user_table_overrides_key_by_key(tmp_path):
    path = tmp_path / "ttl.toml"
    path.write_text('initial_ttls = [60, 64, 128, 255]\nmax_routers = 20\n[labels]\n60 = "aix-old"\n')
    table = load_ttl_table(path)
    assert table.initial_ttls == (60, 64, 128, 255)
    assert initial_ttl(58, table) == 60
    assert guess_ttl(58, table).family == "aix-old"
    assert guess_ttl(128 - 21, table).ambiguous
    assert table.families[128] == default_ttl_table().families[128]


def test_unreadable_or_malformed_table_is_a_usage_error(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("initial_ttls = [")
    with pytest.raises(UsageError, match="cannot read TTL table"):
        load_ttl_table(bad)
    bad.write_text('initial_ttls = ["x"]')
    with pytest.raises(UsageError, match="malformed"):
        load_ttl_table(bad)
    bad.write_text("initial_ttls = [300]")
    with pytest.raises(UsageError, match="1..255"):
        load_ttl_table(bad)
    with pytest.raises(UsageError):
        load_ttl_table(tmp_path / "missing.toml")
