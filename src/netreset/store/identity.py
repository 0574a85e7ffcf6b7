"""Which capture a row comes from, and which node recorded it.

A *capture* is its content: the sha256 of the file's bytes names it in every table (``capture``), so a
file copied under two names, or exported twice, is one capture, and re-exporting it replaces its rows
instead of adding to them (:mod:`netreset.store.dataset`).

A *node* is the machine the capture was taken on, decided by the first rule that gives a name:

1. ``--node NAME``, for every capture of the run;
2. ``--node-from REGEX``: the first group of the regular expression searched in the capture's path
   (``--node-from 'captures/([^/]+)/'`` for one folder per node); a path it does not match goes on
   to the next rule;
3. the capture host's own address: the one address that takes part in every conversation of the capture
   and whose packets arrive unrouted (``routers_between`` 0 in ``hosts``): a capture taken on a node
   sees the node in every conversation, sending with its initial TTL;
4. the pcapng section header: ``shb_hardware``, ``shb_os`` and ``shb_userappl`` joined with ``/``;
5. ``unknown``.

Rule 3 comes before the section header although the issue lists them the other way round: dumpcap
writes the CPU model, the OS and its own version there (``AMD EPYC (with SSE4.2)/Linux 6.18…/Dumpcap
(Wireshark) 4.0.17``, in every sample capture), which is the same on every node of an Integration
Runtime, while the capture host's address differs. The header still wins where rule 3 finds nothing (a
capture at a SPAN port or a firewall, where no address is in every conversation, or two neighbours on
one LAN), and all of it is kept in the ``captures`` table (``capture_host``, ``shb_*``, ``node_source``).

Limits: a node behind NAT is known by its inside address (the one in its own capture); two nodes whose
captures both lack a usable host and header become one node ``unknown`` — give ``--node``/``--node-from``
then. Node names are partition values (directory names), so characters other than letters, digits and
``._-`` become ``_`` (``fd00:66::1`` → ``fd00_66__1``).
"""

from __future__ import annotations

import hashlib
import re

from netreset.errors import UsageError

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def file_sha256(path, block: int = 1 << 20) -> tuple[str, int]:
    """(sha256 hex, size in bytes) of a file's content."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as stream:
        while chunk := stream.read(block):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def capture_host(hosts: list[dict], conversations: list[dict]) -> str | None:
    """The capture host's own address (rule 3 of the module docstring), or None when no single address fits."""
    if not conversations:
        return None
    everywhere = None
    for c in conversations:
        ends = {c["orig_h"], c["resp_h"]}
        everywhere = ends if everywhere is None else everywhere & ends
        if not everywhere:
            return None
    unrouted = {h["address"] for h in hosts if h.get("routers_between") == 0}
    found = sorted(everywhere & unrouted)
    return found[0] if len(found) == 1 else None


def compile_node_pattern(pattern: str | None):
    """``--node-from``'s regular expression, checked once: it must compile and hold a group."""
    if pattern is None:
        return None
    try:
        compiled = re.compile(pattern)
    except re.error as err:
        raise UsageError(f"--node-from {pattern!r}: not a regular expression ({err})") from None
    if compiled.groups < 1:
        raise UsageError(f"--node-from {pattern!r}: needs a group, e.g. 'captures/([^/]+)/' (its first group names the node)")
    return compiled


def node_identity(path: str, *, node: str | None = None, node_from=None, host: str | None = None,
                  section: dict | None = None) -> tuple[str, str]:
    """(node name, the rule that gave it: ``option``, ``path``, ``capture_host``, ``section_header`` or
    ``unknown``) for the capture at ``path``; ``node_from``: :func:`compile_node_pattern`'s result."""
    if node:
        return safe_name(node), "option"
    if node_from is not None:
        match = node_from.search(str(path))
        if match and match.group(1):
            return safe_name(match.group(1)), "path"
    if host:
        return safe_name(host), "capture_host"
    described = "/".join(v for k in ("shb_hardware", "shb_os", "shb_userappl") if (v := (section or {}).get(k)))
    if described:
        return safe_name(described), "section_header"
    return "unknown", "unknown"


def safe_name(name: str) -> str:
    """A node name usable as a directory name (hive partition value)."""
    return _UNSAFE.sub("_", name.strip()) or "unknown"
