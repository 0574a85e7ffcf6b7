"""Devices across a fleet: the resetting boxes as the evidence identifies them, merged over captures and nodes.

A *device* is the sender of the RSTs the reset analysis attributes to a middlebox (``verdict`` ``middlebox``),
keyed by what the packets measure about it from the capture point: its **traceroute hop** and its
**initial TTL** (the TTL family of its network stack). Resets with the same pair, from any capture and
node, are one device (``device``: ``hop4-ttl64``). What else the evidence says is kept beside the key,
not in it: the addresses the RSTs claimed (``claimed_senders``: the servers it spoke for), the services
it reset, the nodes it reset them for, and the IP-ID behaviour of its RSTs (``ip_id``: the reset
evidence's ``ipid_*`` codes on those RSTs), so that a reader can see when one key holds two boxes.

Why this key: the hop and the initial TTL are the two facts every forged RST carries whatever the
capture (the IP ID and the timing need more packets of the claimed sender to say anything, and the
addresses are the victims', not the box's). Its limits:

- two different boxes at the same hop with the same initial TTL (two firewalls, each four hops from
  its own nodes, on different paths) are merged: their ``claimed_senders`` and ``services`` then lie on
  unrelated paths;
- one box seen from nodes at different distances (nodes in different subnets, one more router away)
  is split into a device per hop;
- a NAT between the nodes and the box changes neither the hop (a NAT router is one more hop for every
  node behind it) nor the TTL family, so it does not split or merge devices; but a device *inside*
  the NAT and one outside it are told apart only by their hops;
- peers (``verdict`` ``peer``) are not devices: they are counted in ``resets_total`` only.
"""

from __future__ import annotations

from netreset.flows.model import endpoint
from netreset.records.schema import SCHEMA_VERSION


def device_key(reset: dict) -> str | None:
    """The device a reset record names (``hop4-ttl64``), None for a reset a middlebox did not send."""
    if reset.get("verdict") != "middlebox" or reset.get("traceroute_hop") is None:
        return None
    return f"hop{reset['traceroute_hop']}-ttl{reset.get('initial_ttl')}"


def service_of(reset: dict, responders: dict[int, str]) -> str:
    """The service a reset broke: its server name when one is known, else the conversation's responder
    ``address:port`` (the claimed sender's address and port when the conversation is not known)."""
    if reset.get("server_name"):
        return reset["server_name"]
    return responders.get(reset.get("conversation")) or endpoint(reset.get("src"), reset.get("sport"))


def capture_devices(resets: list[dict], node: str, responders: dict[int, str]) -> list[dict]:
    """One capture's devices (partial: merged by :func:`merge_devices`)."""
    found: dict[str, dict] = {}
    for r in resets:
        key = device_key(r)
        if key is None:
            continue
        d = found.setdefault(key, {"device": key, "traceroute_hop": r["traceroute_hop"], "initial_ttl": r.get("initial_ttl"),
                                   "resets": 0, "nodes": [node], "claimed_senders": [], "services": [],
                                   "first_ts": r["ts"], "last_ts": r["ts"], "ip_id": []})
        d["resets"] += 1
        _add(d["claimed_senders"], r.get("src"))
        _add(d["services"], service_of(r, responders))
        for code in sorted({e.get("code") for e in r.get("evidence") or [] if str(e.get("code", "")).startswith("ipid_")}):
            _add(d["ip_id"], code)
        d["first_ts"], d["last_ts"] = min(d["first_ts"], r["ts"]), max(d["last_ts"], r["ts"])
    return list(found.values())


def _add(values: list, value) -> None:
    if value is not None and value not in values:
        values.append(value)


def merge_devices(parts: list[list[dict]]) -> list[dict]:
    """Devices of several captures merged by key; most resets first, lists sorted."""
    merged: dict[str, dict] = {}
    for devices in parts:
        for d in devices:
            m = merged.get(d["device"])
            if m is None:
                merged[d["device"]] = {k: (list(v) if isinstance(v, list) else v) for k, v in d.items()}
                continue
            m["resets"] += d["resets"]
            for field in ("nodes", "claimed_senders", "services", "ip_id"):
                for value in d[field]:
                    _add(m[field], value)
            m["first_ts"], m["last_ts"] = min(m["first_ts"], d["first_ts"]), max(m["last_ts"], d["last_ts"])
    out = []
    for m in merged.values():
        out.append({"device": m["device"], "traceroute_hop": m["traceroute_hop"], "initial_ttl": m["initial_ttl"],
                    "resets": m["resets"], "nodes": sorted(m["nodes"]), "claimed_senders": sorted(m["claimed_senders"]),
                    "services": sorted(m["services"]), "first_ts": m["first_ts"], "last_ts": m["last_ts"],
                    "ip_id": sorted(m["ip_id"])})
    return sorted(out, key=lambda d: (-d["resets"], d["traceroute_hop"], d["device"]))


def fleet_document(summaries: list[dict]) -> dict:
    """The fleet summary (``netreset fleet --format json``) from the per-capture summaries of
    :func:`netreset.fleet.tasks.analyse_capture`; a capture analysed twice (a retry) counts once."""
    done, failed = {}, {}
    for s in summaries:
        if s.get("error") is not None:
            failed[s["path"]] = {"path": s["path"], "error": s["error"]}
        else:
            done.setdefault(s["capture"], s)
    good = list(done.values())
    return {
        "schema_version": SCHEMA_VERSION,
        "captures": len(good),
        "nodes": sorted({s["node"] for s in good}),
        "conversations_total": sum(s["conversations"] for s in good),
        "resets_total": sum(s["resets"] for s in good),
        "devices": merge_devices([s["devices"] for s in good]),
        "failed": sorted(failed.values(), key=lambda f: f["path"]),
    }

