"""A device answering for the server (issue 14): ``tls_interception`` and ``transparent_proxy``.

Two premises, each checked against the packets:

* **Answered by a device** (:func:`answered_by_device`): the responder's packets in this conversation arrive
  from more than :data:`~netreset.analyses.resets.weights.TTL_TOLERANCE_HOPS` routers nearer than the same
  address's own packets elsewhere in the capture (its farthest hop:
  :func:`~netreset.analyses.resets.pairs.own_hop_keys` — a device answering in an address's name sits on the
  path to it), and the nearer packets are another stack: another initial-TTL family, a SYN-ACK with other
  options than every one the address answered with from its own hop, or the address answers handshakes
  from its own hop on another port. The reset rule ``terminated_by_device``
  (:mod:`netreset.analyses.resets.rules.terminated`) rests on the same premise.
* **A certificate from an issuer the service does not use** (:func:`unexpected_issuer`): the leaf certificate
  of a TLS ≤ 1.2 handshake (in clear) for a name the service roots file (``data/service_roots.toml``, or the
  user's ``--service-roots``) lists, issued by a CA that file does not list for it.

``tls_interception``: a TLS handshake (ServerHello or Certificate from the responder) answered by a device,
and/or an unexpected issuer, in a failing conversation (a RST, a fatal alert or a handshake finding), with the
client's alert. ``transparent_proxy``: a failing conversation answered by a device where no TLS handshake was
(or could be seen as) answered by it.

Not claimed: a route change of two or more hops between two connections to one port from one TTL family,
anycast or unequal-cost paths (the second fact is required for that reason); a CDN's or load balancer's
backends (they answer behind one address from one hop); an issuer for a name the file does not list.
"""

from __future__ import annotations

import fnmatch
import functools
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from netreset.analyses.causes import cause
from netreset.analyses.resets.pairs import own_hop_keys, own_options, synack_options, ttl_reach, ttl_routers
from netreset.analyses.resets.weights import TTL_TOLERANCE_HOPS
from netreset.errors import UsageError
from netreset.packets.table import ACK, RST, SYN

#: Client alerts that say it rejected the certificate it was shown.
REJECTING_ALERTS = ("unknown_ca", "bad_certificate", "certificate_unknown")


@dataclass(frozen=True)
class Service:
    """One entry of the service roots file."""

    service: str  #: label for sentences
    names: tuple[str, ...]  #: globs of the names (SNI) it answers
    issuers: tuple[str, ...]  #: globs of the issuer CN of its own (leaf) certificates
    roots: tuple[str, ...]  #: the roots they chain to (informative)
    source: str


def _parse(data: dict, origin: str) -> tuple[Service, ...]:
    entries = data.get("service", [])
    if not isinstance(entries, list):
        raise UsageError(f"{origin}: [[service]] entries expected")
    out = []
    for i, e in enumerate(entries, 1):
        try:
            if not isinstance(e, dict):
                raise TypeError("each [[service]] is a table")
            names, issuers = e["names"], e["issuers"]
            if not isinstance(names, list) or not isinstance(issuers, list) or not names or not issuers:
                raise TypeError("names and issuers must be non-empty lists")
            out.append(Service(str(e.get("service", names[0])), tuple(str(n).lower() for n in names),
                               tuple(str(s) for s in issuers), tuple(str(r) for r in e.get("roots", [])),
                               str(e.get("source", origin))))
        except KeyError as err:
            raise UsageError(f"{origin}: service entry {i} lacks {err.args[0]!r} (names and issuers are needed)") from None
        except (TypeError, AttributeError) as err:
            raise UsageError(f"{origin}: service entry {i} is malformed ({err})") from None
    return tuple(out)


@functools.cache
def default_service_roots() -> tuple[Service, ...]:
    """The entries shipped with netreset (``netreset/data/service_roots.toml``), parsed once per process."""
    text = resources.files("netreset").joinpath("data/service_roots.toml").read_text(encoding="utf-8")
    return _parse(tomllib.loads(text), "netreset/data/service_roots.toml")


def load_service_roots(path: str | Path | None = None) -> tuple[Service, ...]:
    """The shipped entries, after the entries of the TOML file at ``path`` (``--service-roots``): the first
    entry whose names match decides, so the user's come first."""
    shipped = default_service_roots()
    if path is None:
        return shipped
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise UsageError(f"{path}: cannot read service roots ({err})") from None
    return _parse(data, str(path)) + shipped


def service_for(name: str | None, roots) -> Service | None:
    """The first entry whose names match ``name`` (case-insensitive shell globs)."""
    if not name:
        return None
    name = name.lower().rstrip(".")
    return next((s for s in roots if any(fnmatch.fnmatchcase(name, g) for g in s.names)), None)


def common_name(dn: str | None) -> str | None:
    """The CN of an RFC 4514 distinguished name (as the certificate reader spells it), else the whole name."""
    if not dn:
        return None
    found = re.search(r"(?:^|,)CN=((?:\\.|[^,])+)", dn)
    return found.group(1).replace("\\", "") if found else dn


def unexpected_issuer(app, roots) -> dict | None:
    """The leaf certificate's issuer and the service's expected issuers when the issuer is not one of them."""
    tls = app.tls if app is not None else None
    if not tls or not tls.get("cert_issuer"):
        return None
    name = tls.get("sni") or app.server_name
    service = service_for(name, roots)
    issuer = common_name(tls["cert_issuer"])
    if service is None or any(fnmatch.fnmatchcase(issuer, g) for g in service.issuers):
        return None
    frame = next((e["frame"] for e in app.events if e["kind"] == "certificate" and e["from"] == "resp"), None)
    return {"name": name, "issuer": issuer, "expected_issuers": list(service.issuers), "service": service.service,
            "frame": frame}


# ── Answered by a device ───────────────────────────────────────────────────────────────────────────────────

class OwnHops:
    """Per address (id), its own TTL when packets in its name came from a nearer device somewhere in the
    capture, and the ports it answered handshakes on from its own hop — read off the capture-wide counts
    (:func:`~netreset.analyses.resets.pairs.host_ttl_counts`, both pipelines)."""

    def __init__(self, wide, guess) -> None:
        self.guess, self.wide = guess, wide
        self.routers, self.app = ttl_routers(guess)
        self.fewest, self.most = ttl_reach(guess)
        keys, counts = wide[0], wide[1]
        own = own_hop_keys(keys, (self.fewest, self.most))
        self.own: dict[int, int] = {}
        answered_for = np.unique(keys[~own] // 256)
        kernel = own & ~self.app[keys % 256] & np.isin(keys // 256, answered_for)
        best: dict[int, tuple[int, int]] = {}
        for key, count in zip(keys[kernel].tolist(), counts[kernel].tolist()):
            src, ttl = divmod(key, 256)
            if src not in best or (-count, ttl) < best[src]:
                best[src] = (-count, ttl)
        self.own = {src: ttl for src, (_, ttl) in best.items()}
        answers = wide[3] if len(wide) > 3 else np.zeros((0, 2), dtype=np.int64)
        answers = answers[np.isin(answers[:, 0] // 2**24, np.fromiter(self.own, dtype=np.int64, count=len(self.own)))]
        self.answers: dict[int, list[tuple[int, int, int]]] = {}
        for key, count in answers.tolist():
            src = key // 2**24
            if src in self.own:
                self.answers.setdefault(src, []).append(((key // 256) % 65536, key % 256, count))

    def ports(self, src: int, but: int) -> list[int]:
        """Up to three ports (not ``but``) ``src`` answered handshakes on from its own hop, most answers first."""
        own = self.routers[self.own[src]]
        tally: dict[int, int] = {}
        for port, ttl, count in self.answers.get(src, []):
            if port != but and abs(int(self.routers[ttl]) - int(own)) <= TTL_TOLERANCE_HOPS:
                tally[port] = tally.get(port, 0) + count
        return sorted(tally, key=lambda p: (-tally[p], p))[:3]


def answered_by_device(table, conv, hops: OwnHops) -> dict | None:
    """The responder's packets in ``conv`` came from a device nearer than the address's own (module
    docstring): the device's TTL and hop, the address's own TTL, hop and ports, the SYN-ACK's frame."""
    rows = np.asarray(conv.rows)
    if not hops.own or not len(rows):
        return None
    resp = ~np.asarray(conv.from_orig, dtype=bool)
    flags, ttl = table.flags[rows], table.ttl[rows].astype(np.int64)
    kernel = resp & ((flags & RST) == 0) & (ttl >= 0)
    kernel[kernel] = ~hops.app[ttl[kernel]]
    if not kernel.any():
        return None
    src = int(table.src[rows[kernel][0]])
    own_ttl = hops.own.get(src)
    if own_ttl is None:
        return None
    seen = ttl[kernel]
    own = hops.guess(own_ttl)
    if int(hops.fewest[own_ttl]) - int(hops.most[seen].max()) <= TTL_TOLERANCE_HOPS:
        return None  # read every plausible way, not nearer than the address's own hop
    nearest = int(hops.routers[seen].max())
    values, counts = np.unique(seen, return_counts=True)
    device_ttl = int(values[np.argmax(counts)])
    ports = hops.ports(src, conv.resp_p)
    synack = np.flatnonzero(resp & ((flags & (SYN | ACK)) == (SYN | ACK)) & ((flags & RST) == 0))
    options_differ = False
    if len(synack):
        row = rows[synack[0]]
        mine = int(synack_options(table.mss[row], table.wscale[row], table.sack_perm[row], table.ts_val[row]))
        own_seen = own_options(hops.wide, src, own_ttl, hops.routers)
        options_differ = bool(own_seen) and mine not in own_seen
    if not ports:  # the address's own stack is seen answering as a server elsewhere (reset rule terminated.py)
        return None
    return {"address": conv.resp_h, "port": conv.resp_p, "ttl": device_ttl, "traceroute_hop": nearest + 1,
            "server_ttl": own_ttl, "server_traceroute_hop": own.traceroute_hop, "server_ports": ports,
            "synack_options_differ": options_differ, "synack_frame": int(table.frame[rows[synack[0]]]) if len(synack) else None}


def devices_by_conversation(table, conversations, wide, guess) -> dict[int, dict]:
    """Conversation id → :func:`answered_by_device` for the conversations whose responder address had
    packets from a nearer device somewhere (only those are looked at: the rest cost one set look-up)."""
    hops = OwnHops(wide, guess)
    if not hops.own:
        return {}
    names = {table.book.name(src) for src in hops.own}
    found = {}
    for conv in conversations:
        if conv.resp_h not in names:
            continue
        device = answered_by_device(table, conv, hops)
        if device is not None:
            found[conv.id] = device
    return found


def mark_transparent(summaries: dict, devices: dict[int, dict]) -> None:
    """A conversation a device answered for its responder gets ``proxy`` ``{"kind": "transparent", "target",
    "status": None, "traceroute_hop"}`` (the contract's transparent kind), unless it went through an explicit
    proxy (in place; ``summaries`` holds every conversation's, as
    :func:`~netreset.analyses.application.events.application_summaries` makes them)."""
    for i, device in devices.items():
        summary = summaries.get(i)
        if summary is not None and summary.proxy is None:
            summary.proxy = {"kind": "transparent", "target": f"{device['address']}:{device['port']}", "status": None,
                             "traceroute_hop": device["traceroute_hop"]}


# ── The causes ────────────────────────────────────────────────────────────────────────────────────────────

def _client_alert(app) -> dict | None:
    return next((e for e in (app.events if app is not None else []) if e["kind"] == "alert"
                 and e.get("level") == "fatal" and not e.get("encrypted") and e["from"] == "orig"), None)


def _tls_answered(app) -> bool:
    return app is not None and any(e["kind"] in ("server_hello", "certificate") and e["from"] == "resp"
                                   for e in app.events)


def _failing(app, verdicts, findings) -> bool:
    return bool(verdicts) or bool(findings) or any(
        e["kind"] == "alert" and e.get("level") == "fatal" for e in (app.events if app is not None else []))


def _device_words(device: dict) -> str:
    ports = device["server_ports"]
    options = "; its SYN-ACK carries other TCP options than the server's" if device["synack_options_differ"] else ""
    where = (f"{device['address']} answers port{'s' if len(ports) > 1 else ''} {', '.join(map(str, ports))} "
             f"with TTL {device['server_ttl']}" if ports else
             f"{device['address']}'s own packets arrive with TTL {device['server_ttl']}")
    return (f"the device at hop {device['traceroute_hop']} (SYN-ACK TTL {device['ttl']}; {where}, "
            f"hop {device['server_traceroute_hop']}{options})")


def interception_causes(conv, app, device: dict | None, roots, verdicts, findings=()) -> list[dict]:
    """``tls_interception`` or ``transparent_proxy`` for one conversation (module docstring), or nothing."""
    if not _failing(app, verdicts, findings):
        return []
    rst_frames = sorted(v.frame for v in verdicts)
    issuer = unexpected_issuer(app, roots)
    tls_device = device if device is not None and _tls_answered(app) else None
    if issuer is not None or tls_device is not None:
        return [_tls_interception(conv, app, issuer, tls_device, rst_frames)]
    if device is None:
        return []
    terminated = [v for v in verdicts if v.reason == "terminated_by_device"]
    sentence = (f"the connection to {device['address']}:{device['port']} was terminated by "
                f"{_device_words(device)}, not by the server")
    if terminated:
        sentence += "; the reset 'consistent with the peer' is that device's (a transparent proxy)"
    sentence += f" — check the device's proxy or redirect policy for port {device['port']}"
    frames = [f for f in (device["synack_frame"], *rst_frames) if f is not None]
    evidence = {k: device[k] for k in ("address", "port", "ttl", "traceroute_hop", "server_ttl",
                                       "server_traceroute_hop", "server_ports", "synack_options_differ")}
    evidence["reset_by_device"] = bool(terminated)
    return [cause("transparent_proxy", sentence, frames, evidence)]


def _tls_interception(conv, app, issuer, device, rst_frames) -> dict:
    name = (issuer or {}).get("name") or (app.tls or {}).get("sni") or app.server_name or conv.resp_h
    parts = []
    if issuer is not None:
        parts.append(f"the certificate presented for {name} is issued by '{issuer['issuer']}', not by the service's CA "
                     f"({', '.join(issuer['expected_issuers'][:3])}{', …' if len(issuer['expected_issuers']) > 3 else ''})")
    if device is not None:
        parts.append(f"the TLS handshake for {name} was answered by {_device_words(device)}, not by the server")
    sentence = " and ".join(parts) + ": a TLS-inspecting device replaces the server certificate"
    alert = _client_alert(app)
    description = alert.get("description") if alert else None
    if description in REJECTING_ALERTS:
        sentence += f"; the client rejected it (alert {description})"
    elif description:
        sentence += f"; the client ended the handshake (alert {description})"
    sentence += (f". Trust the proxy's root CA on the Integration Runtime machine, or exempt {name} from TLS "
                 f"inspection on the device")
    frames = [f for f in ((device or {}).get("synack_frame"), (issuer or {}).get("frame"),
                          alert["frame"] if alert else None, *rst_frames) if f is not None]
    evidence = {"sni": (app.tls or {}).get("sni"), "issuer": (issuer or {}).get("issuer") or
                common_name((app.tls or {}).get("cert_issuer")),
                "expected_issuers": (issuer or {}).get("expected_issuers", []),
                "alert": description, "alert_from": alert["from"] if alert else None,
                "handshake_ttl": (device or {}).get("ttl"), "traceroute_hop": (device or {}).get("traceroute_hop"),
                "server_ttl": (device or {}).get("server_ttl"),
                "server_traceroute_hop": (device or {}).get("server_traceroute_hop"),
                "server_ports": (device or {}).get("server_ports", []),
                "synack_options_differ": (device or {}).get("synack_options_differ")}
    return cause("tls_interception", sentence, frames, evidence)
