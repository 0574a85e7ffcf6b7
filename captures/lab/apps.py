"""The lab's application-layer software for issue 14: TLS servers, an explicit CONNECT proxy, a
transparent proxy, a TLS-inspecting terminator, and the agent's clients (TLS, proxy, DNS, idle).

TLS is Python's ``ssl`` module (OpenSSL underneath: real handshakes, real alerts), DNS is dnsmasq
(server, started by lab.py) and dig (client); the proxies are small programs written here, on
plain sockets, because their behaviour *is* the scenario (which status line, which header, when to
reset). Clients bind fixed source ports (truth.json's 5-tuples are exact) and print one JSON line:
what the application saw.

    apps.py serve-tls CERT KEY tls@10.66.6.2:443 tls12@10.66.6.2:8443 http@10.66.6.2:80
    apps.py serve-fw FORGED_CERT FORGED_KEY connect@10.66.3.2:3128 transparent@0.0.0.0:3129 inspect@0.0.0.0:9443
    apps.py tls SRC DST SNI CAFILE [tls1.3]          # GET / over TLS; tls1.3 = offer TLS 1.3 only
    apps.py proxy SRC PROXY TARGET CAFILE [USER:PASS] # CONNECT, then TLS through the tunnel on 200
    apps.py http SRC DST HOST                        # one plain HTTP GET
    apps.py dns SERVER SRC_HOST PORT:TYPE:NAME[:tcp] ...
    apps.py idle SRC_PLAIN SRC_KEEPALIVE DST IDLE_S KEEPALIVE_S
    apps.py tls-giveup SRC DST SNI CAFILE GIVEUP_S   # TLS; no answer within GIVEUP_S: abort (RST)
    apps.py idle-silent SRC_PLAIN SRC_KEEPALIVE DST IDLE_S GIVEUP_S KEEPIDLE KEEPINTVL KEEPCNT
"""

from __future__ import annotations

import base64
import json
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time

from traffic import STEP_PAUSE_S, endpoint, errno_name, exchange, open_client, serve_on

#: The explicit proxy's policy (what a corporate proxy's configuration would say).
PROXY_USER, PROXY_PASSWORD = "ir-service", "lab-only"
PROXY_DENIED = {"wu2.frontend.clouddatahub.net"}
PROXY_AUTH_SCHEMES = ("Negotiate", "NTLM", 'Basic realm="lab-proxy"')
#: Where the proxy sends an allowed CONNECT (its own static resolution of the lab's names).
PROXY_UPSTREAM = {"x.servicebus.windows.net": "10.66.6.2", "wu2.frontend.clouddatahub.net": "10.66.6.2"}
HANDSHAKE_TIMEOUT_S = 10
BODY = b"hello from the lab server\n"


# ---------------------------------------------------------------------------------------------- servers


def read_head(conn) -> bytes:
    """Read an HTTP request head (up to the blank line); b'' if the peer closed first."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return b""
        data += chunk
    return data


def http_response(status: str, headers: tuple[str, ...] = (), body: bytes = b"") -> bytes:
    lines = [f"HTTP/1.1 {status}", *headers, f"Content-Length: {len(body)}", "Connection: close", "", ""]
    return "\r\n".join(lines).encode() + body


def serve_https(conn: socket.socket, context: ssl.SSLContext) -> None:
    """TLS handshake, one request, one answer, close_notify both ways, close."""
    conn.settimeout(HANDSHAKE_TIMEOUT_S)
    tls = context.wrap_socket(conn, server_side=True)
    if read_head(tls):
        tls.sendall(http_response("200 OK", ("Content-Type: text/plain",), BODY))
    tls.unwrap().close()


def serve_http(conn: socket.socket) -> None:
    if read_head(conn):
        conn.sendall(http_response("200 OK", ("Content-Type: text/plain",), BODY))
    time.sleep(STEP_PAUSE_S)
    conn.close()


def tls_context(cert: str, key: str, highest: ssl.TLSVersion) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.maximum_version = highest
    context.load_cert_chain(cert, key)
    return context


def splice(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways until both directions closed (a half-close is passed on as a half-close)."""
    def pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while chunk := src.recv(16384):
                dst.sendall(chunk)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass
    other = threading.Thread(target=pump, args=(b, a), daemon=True)
    other.start()
    pump(a, b)
    other.join(HANDSHAKE_TIMEOUT_S)
    a.close()
    b.close()


def serve_connect(conn: socket.socket) -> None:
    """An explicit proxy: authenticate (407), apply the URL policy (403), or tunnel (200)."""
    conn.settimeout(HANDSHAKE_TIMEOUT_S)
    head = read_head(conn).decode("latin-1")
    if not head:
        conn.close()
        return
    method, target, _ = head.split("\r\n", 1)[0].split(" ", 2)
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head.split("\r\n")[1:] if line)}
    host, _, port = target.rpartition(":")
    expected = "Basic " + base64.b64encode(f"{PROXY_USER}:{PROXY_PASSWORD}".encode()).decode()
    if method != "CONNECT":
        answer = http_response("405 Method Not Allowed")
    elif headers.get("proxy-authorization") != expected:
        answer = http_response("407 Proxy Authentication Required",
                               tuple(f"Proxy-Authenticate: {s}" for s in PROXY_AUTH_SCHEMES))
    elif host in PROXY_DENIED:
        answer = http_response("403 Forbidden", ("Content-Type: text/plain",), b"blocked by lab proxy policy\n")
    else:
        upstream = socket.create_connection((PROXY_UPSTREAM[host], int(port)), timeout=HANDSHAKE_TIMEOUT_S)
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        splice(conn, upstream)
        return
    conn.sendall(answer)
    conn.close()  # Connection: close, and the proxy closes first


def serve_transparent(conn: socket.socket) -> None:
    """A transparent proxy that refuses what it intercepted: read the request, then reset the client."""
    conn.settimeout(HANDSHAKE_TIMEOUT_S)
    read_head(conn)
    time.sleep(STEP_PAUSE_S)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def serve_inspect(conn: socket.socket, context: ssl.SSLContext) -> None:
    """A TLS-inspecting terminator: answer the handshake itself with its forged certificate."""
    conn.settimeout(HANDSHAKE_TIMEOUT_S)
    try:
        serve_https(conn, context)
    except (ssl.SSLError, OSError):
        conn.close()


def serve(cert: str, key: str, specs: list[str]) -> int:
    """Start every listener (``mode@host:port``), say 'ready', serve until killed."""
    tls13 = tls_context(cert, key, ssl.TLSVersion.TLSv1_3)
    tls12 = tls_context(cert, key, ssl.TLSVersion.TLSv1_2)
    handlers = {
        "tls": lambda c: serve_https(c, tls13), "tls12": lambda c: serve_https(c, tls12), "http": serve_http,
        "connect": serve_connect, "transparent": serve_transparent, "inspect": lambda c: serve_inspect(c, tls12),
    }
    for spec in specs:
        mode, _, where = spec.partition("@")
        serve_on(where, handlers[mode], (OSError, ssl.SSLError, ValueError))
    print("ready", flush=True)
    threading.Event().wait()
    return 0


# ---------------------------------------------------------------------------------------------- clients


def client_context(cafile: str, only_tls13: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=cafile)
    context.minimum_version = ssl.TLSVersion.TLSv1_3 if only_tls13 else ssl.TLSVersion.TLSv1_2
    return context


def tls_error(exc: Exception) -> str:
    """The TLS library's reason (CERTIFICATE_VERIFY_FAILED, TLSV1_ALERT_PROTOCOL_VERSION, …) or the errno."""
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return exc.reason
    return errno_name(exc) if isinstance(exc, OSError) else type(exc).__name__


def https_get(tls: ssl.SSLSocket, sni: str) -> dict:
    """TLS handshake on a wrapped socket, GET /, read to close_notify, send ours, close."""
    tls.do_handshake()
    version = tls.version()
    tls.sendall(f"GET / HTTP/1.1\r\nHost: {sni}\r\nUser-Agent: netreset-lab\r\n\r\n".encode())
    answer = b""
    while chunk := tls.recv(4096):
        answer += chunk
    tls.unwrap().close()
    return {"result": "ok", "version": version, "status": int(answer.split(b" ", 2)[1])}


def tls_over(sock: socket.socket, sni: str, cafile: str, only_tls13: bool = False) -> dict:
    """HTTPS on a connected socket. A failed handshake (after the alert went out) closes the socket a
    moment later, so the peer's reaction to the alert (its FIN) always precedes our close in the
    capture; whatever of its flight we left unread makes that close a RST, as for any client."""
    tls = client_context(cafile, only_tls13).wrap_socket(sock, server_hostname=sni, do_handshake_on_connect=False)
    try:
        return https_get(tls, sni)
    except (ssl.SSLError, OSError) as exc:
        time.sleep(STEP_PAUSE_S)
        tls.close()
        return {"result": tls_error(exc)}


def tls_client(src: str, dst: str, sni: str, cafile: str, only_tls13: bool = False) -> dict:
    try:
        sock = open_client(src, dst)
    except OSError as exc:
        return {"result": errno_name(exc)}
    return tls_over(sock, sni, cafile, only_tls13)


def proxy_client(src: str, proxy: str, target: str, cafile: str, credentials: str | None = None) -> dict:
    """CONNECT through an explicit proxy; on 200, TLS to the target through the tunnel."""
    sock = open_client(src, proxy)
    lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}", "User-Agent: netreset-lab"]
    if credentials:
        lines.append("Proxy-Authorization: Basic " + base64.b64encode(credentials.encode()).decode())
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    head = read_head(sock)
    status = int(head.split(b" ", 2)[1])
    if status != 200:
        time.sleep(STEP_PAUSE_S)  # the proxy closes first (Connection: close)
        sock.close()
        return {"result": "ok", "proxy_status": status}
    return {**tls_over(sock, target.rpartition(":")[0], cafile), "proxy_status": status}


def http_client(src: str, dst: str, host: str) -> dict:
    try:
        with open_client(src, dst) as sock:
            sock.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nUser-Agent: netreset-lab\r\n\r\n".encode())
            answer = sock.recv(4096)
            return {"result": "ok", "status": int(answer.split(b" ", 2)[1])} if answer else {"result": "EOF"}
    except OSError as exc:
        return {"result": errno_name(exc)}


def dns_client(server: str, src_host: str, queries: list[str]) -> dict:
    """Each query with dig from a fixed source port: ``PORT:TYPE:NAME`` (``:tcp`` for DNS over TCP)."""
    answers = []
    for query in queries:
        port, rtype, name, *transport = query.split(":")
        argv = ["dig", f"@{server}", "-b", f"{src_host}#{port}", "+tries=1", "+time=3", "+nocookie", "+noedns",
                "+short", *(["+tcp"] if transport == ["tcp"] else []), name, rtype]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        answers.append(done.stdout.split() if done.returncode == 0 else [f"dig exit {done.returncode}"])
        time.sleep(STEP_PAUSE_S)
    return {"result": "ok", "answers": answers}


def idle_client(src_plain: str, src_keepalive: str, dst: str, idle_s: float, keepalive_s: int) -> dict:
    """Two connections, one request each; silence for ``idle_s``; a second request on each. Only the
    second connection has TCP keepalives (every ``keepalive_s``), which keep the firewall's state alive."""
    plain, alive = open_client(src_plain, dst), open_client(src_keepalive, dst)
    alive.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    alive.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, keepalive_s)
    alive.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, keepalive_s)
    results = []
    exchange(plain, "GET /first")
    time.sleep(STEP_PAUSE_S)
    exchange(alive, "GET /first")
    time.sleep(idle_s)
    for sock in (plain, alive):
        try:
            results.append("ok" if exchange(sock, "GET /after-idle") else "EOF")
        except OSError as exc:
            results.append(errno_name(exc))
        time.sleep(STEP_PAUSE_S)
    plain.close()
    alive.close()
    return {"result": results}


def abort(sock: socket.socket) -> None:
    """Close with SO_LINGER {1, 0}: the kernel resets the connection (RST) instead of a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def tls_giveup_client(src: str, dst: str, sni: str, cafile: str, giveup_s: float) -> dict:
    """HTTPS whose handshake is given up after ``giveup_s`` without an answer: the client aborts (RST), as an
    application with a connect/handshake timeout does."""
    try:
        sock = open_client(src, dst)
    except OSError as exc:
        return {"result": errno_name(exc)}
    sock.settimeout(giveup_s)
    tls = client_context(cafile, False).wrap_socket(sock, server_hostname=sni, do_handshake_on_connect=False)
    try:
        return https_get(tls, sni)
    except (ssl.SSLError, OSError) as exc:
        if isinstance(exc, TimeoutError) and not exc.errno:  # our own give-up (the socket timeout)
            abort(tls)
            return {"result": "timeout"}
        tls.close()
        return {"result": tls_error(exc)}


def idle_silent_client(src_plain: str, src_keepalive: str, dst: str, idle_s: float, giveup_s: float,
                       keepidle: int, keepintvl: int, keepcnt: int) -> dict:
    """Two connections, one request each, then silence. The plain one sends a second request after ``idle_s``
    and aborts (RST) when no answer comes within ``giveup_s``; the other only waits, with TCP keepalives
    starting after ``keepidle`` s (every ``keepintvl`` s, ``keepcnt`` probes), and gets its kernel's verdict
    (ETIMEDOUT when the probes go unanswered: the kernel resets the connection)."""
    plain, alive = open_client(src_plain, dst), open_client(src_keepalive, dst)
    alive.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    alive.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, keepidle)
    alive.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, keepintvl)
    alive.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, keepcnt)
    exchange(plain, "GET /first")
    time.sleep(STEP_PAUSE_S)
    exchange(alive, "GET /first")
    waited: dict = {}

    def wait_alive() -> None:
        alive.settimeout(keepidle + keepintvl * (keepcnt + 3))
        try:
            waited["result"] = "EOF" if not alive.recv(1) else "data"
        except OSError as exc:  # the kernel's ETIMEDOUT is a TimeoutError too: told apart by its errno
            waited["result"] = errno_name(exc) if exc.errno else "timeout"

    waiter = threading.Thread(target=wait_alive)
    waiter.start()
    time.sleep(idle_s)
    plain.settimeout(giveup_s)
    try:
        first = "ok" if exchange(plain, "GET /after-idle") else "EOF"
    except OSError as exc:
        first = errno_name(exc) if exc.errno else "timeout"
        if not exc.errno:
            abort(plain)
    waiter.join()
    alive.close()
    return {"result": [first, waited.get("result")]}


def main(argv: list[str]) -> int:
    command, args = argv[0], argv[1:]
    if command in ("serve-tls", "serve-fw"):
        return serve(args[0], args[1], args[2:])
    outcome = {
        "tls": lambda: tls_client(args[0], args[1], args[2], args[3], args[4:] == ["tls1.3"]),
        "proxy": lambda: proxy_client(*args),
        "http": lambda: http_client(*args),
        "dns": lambda: dns_client(args[0], args[1], args[2:]),
        "idle": lambda: idle_client(args[0], args[1], args[2], float(args[3]), int(args[4])),
        "tls-giveup": lambda: tls_giveup_client(args[0], args[1], args[2], args[3], float(args[4])),
        "idle-silent": lambda: idle_silent_client(args[0], args[1], args[2], float(args[3]), float(args[4]),
                                                  int(args[5]), int(args[6]), int(args[7])),
    }[command]()
    print(json.dumps(outcome), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
