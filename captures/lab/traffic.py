"""The lab's applications: a small TCP server and client, run inside the namespaces by lab.py.

Why hand-written sockets and not curl/nc: every scenario must produce the *same* packet structure on
every run, so the client binds a fixed source port, sends fixed lines, and pauses long enough
between steps for the kernel's delayed ACKs to leave on their own (otherwise an ACK may ride on the
next segment one run and not the other). The protocol is one line per request, one line back.

    traffic.py serve rr@10.66.6.2:8080 abort@10.66.6.2:8085 rr@[fd00:66:6::2]:8087
    traffic.py session 10.66.0.1:40005 10.66.6.2:8080 "GET /hello"
    traffic.py connect 10.66.0.1:40003 10.66.6.2:8083
    traffic.py multi 10.66.0.1 40081,40082,40083,40084 10.66.6.2:8086 2

Each client prints one JSON line: what happened, as the application saw it (errno names).
"""

from __future__ import annotations

import errno
import json
import socket
import struct
import sys
import threading
import time

#: Pause between application steps: longer than Linux's delayed-ACK timer (40-200 ms).
STEP_PAUSE_S = 0.3
#: The server waits this long after the client's FIN before its own close, so the teardown is a
#: true 4-way (FIN, ACK, FIN, ACK) and not FIN, FIN-ACK, ACK.
CLOSE_PAUSE_S = 0.2
#: Bytes of filler in a response: a few segments' worth of nothing, well under one MSS.
RESPONSE_FILL = 300
MARKER = "FORBIDDEN"


def endpoint(text: str) -> tuple[int, tuple[str, int]]:
    """``1.2.3.4:80`` or ``[fd00::1]:80`` -> (address family, (host, port))."""
    host, _, port = text.rpartition(":")
    if host.startswith("["):
        return socket.AF_INET6, (host[1:-1], int(port))
    return socket.AF_INET, (host, int(port))


def response_for(request: bytes) -> bytes:
    """The server's answer to one request line (never contains the firewall's marker)."""
    return b"OK " + request.strip()[:40] + b" " + b"x" * RESPONSE_FILL + b"\n"


def read_line(conn: socket.socket) -> bytes:
    """Read up to and including a newline; b'' when the peer closed first."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(4096)
        if not chunk:
            return data
        data += chunk
    return data


def serve_rr(conn: socket.socket) -> None:
    """Answer every request line; on the client's FIN, pause, then close (FIN) in turn."""
    with conn:
        while request := read_line(conn):
            conn.sendall(response_for(request))
        time.sleep(CLOSE_PAUSE_S)


def serve_abort(conn: socket.socket) -> None:
    """Send half an answer, then abort: SO_LINGER {on, 0} makes close() emit a RST, not a FIN."""
    request = read_line(conn)
    answer = response_for(request)
    conn.sendall(answer[: len(answer) // 2])
    time.sleep(STEP_PAUSE_S)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def listen(spec: str) -> None:
    """Listen on ``mode@host:port`` and serve each connection in its own thread."""
    mode, _, where = spec.partition("@")
    serve_on(where, {"rr": serve_rr, "abort": serve_abort}[mode])


def serve_on(where: str, handler, expected: tuple[type[BaseException], ...] = (OSError,)) -> None:
    """Listen on ``host:port`` and run ``handler(conn)`` for each connection in its own thread; an
    ``expected`` failure (a peer that vanished, timed out, failed its handshake) is a lab event, not a crash."""
    family, address = endpoint(where)
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    sock.listen(16)

    def guarded(conn: socket.socket) -> None:
        try:
            handler(conn)
        except expected:
            conn.close()

    def loop() -> None:
        while True:
            conn, _ = sock.accept()
            threading.Thread(target=guarded, args=(conn,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()


def serve(specs: list[str]) -> int:
    """Start every listener, say 'ready' (lab.py waits for it), then serve until killed."""
    for spec in specs:
        listen(spec)
    print("ready", flush=True)
    threading.Event().wait()
    return 0


def open_client(src: str, dst: str) -> socket.socket:
    """A connected socket from a fixed source port (fixed 5-tuples make the ground truth exact)."""
    family, local = endpoint(src)
    _, remote = endpoint(dst)
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.settimeout(15)
    sock.bind(local)
    sock.connect(remote)
    return sock


def errno_name(exc: OSError) -> str:
    """Symbolic errno of an exception (``ECONNRESET``), or its text when it has none."""
    return errno.errorcode.get(exc.errno, str(exc)) if exc.errno else type(exc).__name__


def exchange(sock: socket.socket, line: str) -> bytes:
    """Send one request line and read the answer (an empty answer means the server closed)."""
    sock.sendall(line.encode() + b"\n")
    return read_line(sock)


def session(src: str, dst: str, lines: list[str]) -> dict:
    """Connect, send each line and read its answer with pauses between, then close."""
    answers = 0
    try:
        with open_client(src, dst) as sock:
            for line in lines:
                if exchange(sock, line):
                    answers += 1
                time.sleep(STEP_PAUSE_S)
    except OSError as exc:
        return {"result": errno_name(exc), "answers": answers}
    return {"result": "ok", "answers": answers}


def connect_only(src: str, dst: str) -> dict:
    """Only try to connect (refused / black-holed scenarios): the kernel's verdict is the result."""
    try:
        with open_client(src, dst):
            return {"result": "ok"}
    except OSError as exc:
        return {"result": errno_name(exc)}


def multi(src_host: str, ports: str, dst: str, marked: int) -> dict:
    """Several concurrent connections; only number ``marked`` (0-based) sends the firewall's marker."""
    prefix = f"[{src_host}]" if ":" in src_host else src_host
    socks = [open_client(f"{prefix}:{port}", dst) for port in ports.split(",")]
    results = ["ok"] * len(socks)
    rounds = [lambda i: f"GET /first/{i}", lambda i: MARKER if i == marked else None, lambda i: f"GET /second/{i}"]
    for make_line in rounds:
        for i, sock in enumerate(socks):
            line = make_line(i)
            if line is None or results[i] != "ok":
                continue
            try:
                exchange(sock, line)
            except OSError as exc:
                results[i] = errno_name(exc)
        time.sleep(STEP_PAUSE_S)
    for sock in socks:
        sock.close()
    return {"result": results}


def main(argv: list[str]) -> int:
    command, args = argv[0], argv[1:]
    if command == "serve":
        return serve(args)
    outcome = {
        "session": lambda: session(args[0], args[1], args[2:]),
        "connect": lambda: connect_only(args[0], args[1]),
        "multi": lambda: multi(args[0], args[1], args[2], int(args[3])),
    }[command]()
    print(json.dumps(outcome), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
