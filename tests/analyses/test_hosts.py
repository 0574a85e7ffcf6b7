"""Host profiles from crafted packets: TTLs per conversation and direction, changes, SYN fingerprints."""

from __future__ import annotations

import json

from resets_support import build, established

from netreset.analyses.hosts import profile_hosts


def profiles(flow) -> dict:
    table, conversations = flow.build()
    return {p.address: p for p in profile_hosts(table, conversations)}


def test_each_host_gets_its_ttl_initial_ttl_and_hops_as_received():
    flow, _ = established()
    hosts = profiles(flow)
    server, client = hosts["203.0.113.9"], hosts["10.1.2.3"]
    assert (server.ttl, server.initial_ttl, server.routers_between, server.traceroute_hop) == (107, 128, 21, 22)
    assert server.family == "windows" and not server.ambiguous
    assert (client.ttl, client.routers_between) == (128, 0)
    assert [s.role for s in server.sightings] == ["resp"] and server.sightings[0].ttls == (107,)
    assert server.packets == 4 and server.conversations == 1


def test_a_forged_rst_does_not_change_the_hosts_ttl_but_is_listed_apart():
    flow, t = established()
    flow.send(t, flow.server, "RA", ttl=61, consume=False)
    server = profiles(flow)["203.0.113.9"]
    assert server.ttl == 107 and server.ttls == (61, 107)
    assert server.sightings[0].rst_ttls == (61,) and server.sightings[0].changes == 0


def test_ttl_changes_inside_a_conversation_are_counted():
    flow, t = established()
    flow.send(t, flow.server, "PA", b"x" * 10, ttl=106)
    flow.send(t + 0.01, flow.server, "PA", b"x" * 10, ttl=107)
    server = profiles(flow)["203.0.113.9"]
    assert server.ttl_changes == 1 and server.sightings[0].changes == 2
    assert server.sightings[0].ttls == (107, 106)


def test_syn_and_syn_ack_fingerprints_are_read_and_deduplicated():
    flow, _ = established()
    second, _ = established(client_kw={"port": 50001})
    table, conversations = build(flow.packets + [(t + 10, p) for t, p in second.packets])
    hosts = {p.address: p for p in profile_hosts(table, conversations)}
    (fp,) = hosts["203.0.113.9"].fingerprints
    assert (fp.kind, fp.mss, fp.wscale, fp.sack, fp.timestamps, fp.df, fp.window) == (
        "syn-ack", 1460, 7, True, True, True, 8212)
    assert fp.options == "M,S,W,T" and fp.count == 2 and fp.first_conversation == 0
    assert hosts["10.1.2.3"].fingerprints[0].kind == "syn"
    assert hosts["203.0.113.9"].conversations == 2


def test_profiles_are_json_serialisable():
    flow, _ = established(ipv6=True)
    data = [p.to_dict() for p in profiles(flow).values()]
    text = json.dumps(data)
    assert '"ip_version": 6' in text and data[0]["sightings"][0]["ttls"] == [128]
