"""The HTML report: self-contained, valid, escaped against hostile captures, renders in headless Chromium."""

from __future__ import annotations

import html.parser
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import CAPTURES
from netreset.cli.main import NetresetGroup
from netreset.cli.figures import FIGURE_COMMANDS

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>&amp;</td></table>'


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def _block(kind: int, body: bytes) -> bytes:
    length = 12 + len(body)
    return struct.pack("<II", kind, length) + body + struct.pack("<I", length)


def _tcp_frame(src: bytes, dst: bytes, sport: int, dport: int, flags: int, seq: int, ack: int, ttl: int) -> bytes:
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 64240, 0, 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0x4000, ttl, 6, 0, src, dst)
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + tcp


def hostile_pcapng(path: Path) -> Path:
    """A pcapng whose section comment, interface name/description and frame comments hold markup."""
    text = HOSTILE.encode()
    shb = _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + _option(1, text) + _option(0, b""))
    idb = _block(1, struct.pack("<HHI", 1, 0, 65535) + _option(2, text) + _option(3, text) + _option(0, b""))
    agent, server = bytes([10, 0, 0, 1]), bytes([10, 9, 9, 9])
    frames = [_tcp_frame(agent, server, 40000, 443, 0x02, 100, 0, 64),
              _tcp_frame(server, agent, 443, 40000, 0x12, 900, 101, 110),
              _tcp_frame(agent, server, 40000, 443, 0x10, 101, 901, 64),
              _tcp_frame(server, agent, 443, 40000, 0x04, 901, 0, 61)]
    epbs = b"".join(_block(6, struct.pack("<IIIII", 0, 0, 1_000_000 + i * 1000, len(f), len(f)) + f
                           + b"\0" * (-len(f) % 4) + _option(1, text) + _option(0, b"")) for i, f in enumerate(frames))
    path.write_bytes(shb + idb + epbs)
    return path


class _Checker(html.parser.HTMLParser):
    """Collects what would execute or load: script elements, event-handler attributes, external URLs."""

    VOID = {"meta", "br", "img", "hr", "input", "link", "path", "rect", "use", "stop", "circle", "line", "polyline",
            "polygon", "ellipse"}

    def __init__(self) -> None:
        super().__init__()
        self.scripts, self.handlers, self.external, self.stack, self.errors = 0, [], [], [], []

    def handle_starttag(self, tag, attrs):
        self.scripts += tag == "script"
        self.handlers += [name for name, _ in attrs if name.startswith("on")]
        self.external += [v for n, v in attrs if n in ("src", "href", "xlink:href") and v and not v.startswith("#")]
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in self.VOID:
            self.stack.pop()

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
            return
        self.stack.pop()


def render_report(capture: Path, out: Path) -> str:
    group = NetresetGroup(commands={c.name: c for c in FIGURE_COMMANDS})
    result = CliRunner().invoke(group, ["report", str(capture), "-o", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out.read_text(encoding="utf-8")


def check(page: str) -> _Checker:
    checker = _Checker()
    checker.feed(page)
    checker.close()
    return checker


def test_hostile_interface_name_and_comments_are_shown_as_text_and_nothing_executes(tmp_path):
    page = render_report(hostile_pcapng(tmp_path / "hostile<b>.pcapng"), tmp_path / "report.html")
    checker = check(page)
    assert checker.scripts == 0 and checker.handlers == [] and checker.external == []
    assert checker.errors == [] and checker.stack == []
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page  # shown, escaped
    assert "hostile&lt;b&gt;.pcapng" in page
    assert "<script" not in page.lower()


@pytest.mark.skipif(not (CAPTURES / "firewall-reset.pcapng").is_file(), reason="sample captures absent")
def test_report_is_one_self_contained_well_formed_page_with_every_section(tmp_path):
    page = render_report(CAPTURES / "firewall-reset.pcapng", tmp_path / "report.html")
    checker = check(page)
    assert checker.errors == [] and checker.stack == [] and checker.external == [] and checker.scripts == 0
    for heading in ("Summary", "Findings", "Resets", "Timelines of failing conversations", "All conversations"):
        assert f"<h2>{heading}</h2>" in page
    assert page.count("<svg") == 3  # hop diagram, ladder, overview
    ids = [i for i in __import__("re").findall(r'\bid="([^"]+)"', page)]
    assert len(ids) == len(set(ids)), "inline SVGs must not repeat element ids"
    assert "MIDDLEBOX" in page and "&gt;&gt; RST SENT HERE &lt;&lt;" in page


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed")
@pytest.mark.skipif(not (CAPTURES / "firewall-reset.pcapng").is_file(), reason="sample captures absent")
def test_report_renders_in_headless_chromium(tmp_path):
    render_report(CAPTURES / "firewall-reset.pcapng", tmp_path / "report.html")
    hostile = tmp_path / "hostile.html"
    render_report(hostile_pcapng(tmp_path / "hostile.pcapng"), hostile)
    for page in (tmp_path / "report.html", hostile):
        shot = page.with_suffix(".png")
        subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        "--window-size=1280,2400", f"--screenshot={shot}", page.as_uri()],
                       check=True, capture_output=True, timeout=120)
        assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 20_000
        # the DOM as Chromium built it: no script element came out of the capture's strings
        dom = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri()],
                             check=True, capture_output=True, timeout=120, text=True).stdout
        assert "<script" not in dom.lower() and "<h2>Resets</h2>" in dom


def test_markdown_report_of_a_hostile_capture_escapes_markup_and_markdown(tmp_path):
    from netreset.report.markdown import md

    assert md("<b>[x](javascript:1)</b> | `y`") == r"&lt;b&gt;\[x\]\(javascript:1\)&lt;/b&gt; \| \`y\`"
    out = tmp_path / "report.md"
    render_report(hostile_pcapng(tmp_path / "hostile.pcapng"), out)
    text = out.read_text()
    assert "<script" not in text and "<img" not in text


def _html5_errors(page: str) -> list:
    """Parse errors of the WHATWG HTML parsing algorithm (html5lib, strict): what a validator's parser reports."""
    html5lib = pytest.importorskip("html5lib")
    parser = html5lib.HTMLParser(strict=False)
    parser.parse(page)
    return [(pos, code, args) for pos, code, args in parser.errors]


@pytest.mark.parametrize("capture", sorted(p.name for p in CAPTURES.glob("*.pcap*")))
def test_report_of_every_sample_capture_parses_as_html_without_a_single_error(tmp_path, capture):
    assert _html5_errors(render_report(CAPTURES / capture, tmp_path / "report.html")) == []


def test_report_of_a_hostile_capture_parses_as_html_without_a_single_error(tmp_path):
    page = render_report(hostile_pcapng(tmp_path / "hostile<b>.pcapng"), tmp_path / "report.html")
    assert _html5_errors(page) == []


def _dom(page: Path) -> str:
    """The DOM as headless Chromium built it from the page."""
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri()],
                          check=True, capture_output=True, timeout=120, text=True).stdout


def _records(capture: Path, command: str, key: str) -> list[dict]:
    import json

    from netreset.cli.main import main

    result = CliRunner().invoke(main, [command, str(capture), "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)[key]


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed")
@pytest.mark.parametrize("name", ["sni-filtered", "proxy-connect", "tls-inspection", "idle-timeout"])
def test_causes_names_and_events_render_in_headless_chromium(tmp_path, name):
    """What netreset's JSON says of each conversation — its name, every cause's sentence and frames, its
    application events on the ladder, the resetting device's deed on the hop diagram — is text in the DOM."""
    import html as html_module

    import textwrap

    from netreset.plots.hops import DID_WIDTH
    from netreset.report.causes import event_label, short_cause

    capture = CAPTURES / f"{name}.pcapng"
    render_report(capture, tmp_path / "report.html")
    dom = _dom(tmp_path / "report.html")
    assert "<h2>Causes</h2>" in dom

    def shown(text: str) -> bool:
        return html_module.escape(text, quote=False) in dom

    conversations = _records(capture, "conversations", "conversations")
    assert any(c["causes"] for c in conversations)
    for c in conversations:
        if c["server_name"]:
            assert shown(f"{c['resp_h']}:{c['resp_p']} ({c['server_name']})")
        for cause in c["causes"]:
            assert shown(cause["sentence"]) and shown(" ".join(str(f) for f in cause["frames"]))
        if c["causes"]:  # its ladder is drawn, the events on their arrows (SVG text stays text)
            for event in c["app_events"]:
                assert shown(event_label(event)), event_label(event)
            if c["idle_before_reset_s"] is not None:
                assert shown(f"{c['idle_before_reset_s']:.1f} s idle")
    for reset in _records(capture, "locate-reset", "resets"):
        for cause in reset["causes"]:
            assert shown(f"{cause['sentence']} ")  # the reset's own list
            # the hop diagram labels the resetting device with what it did (wrapped in lines)
            assert all(shown(line) for line in textwrap.wrap(short_cause(cause), DID_WIDTH))
