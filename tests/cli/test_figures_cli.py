"""The figure commands on the lab's sample captures: each writes a valid file of the requested format."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from matplotlib.figure import Figure
from matplotlib.text import Annotation

from conftest import CAPTURES
from netreset.pipeline.whole import Analysis
from netreset.cli.main import NetresetGroup
from netreset.cli.figures import FIGURE_COMMANDS
from netreset.plots.ladder import draw_ladder
from netreset.plots.overview import draw_overview

MAGIC = {".png": b"\x89PNG\r\n\x1a\n", ".pdf": b"%PDF-", ".svg": b"<?xml"}
SAMPLES = ["firewall-reset.pcapng", "syn-blackhole.pcap", "clean.pcap", "port-closed.pcap", "multi-connection.pcap"]

pytestmark = pytest.mark.skipif(not (CAPTURES / "firewall-reset.pcapng").is_file(), reason="sample captures absent")


def run(*args: str):
    group = NetresetGroup(commands={c.name: c for c in FIGURE_COMMANDS})
    return CliRunner().invoke(group, [str(a) for a in args], catch_exceptions=False)


def analysis(name: str, **options) -> Analysis:
    from netreset.pipeline.whole import Options

    return Analysis.of_files([CAPTURES / name], Options(**options))


@pytest.mark.parametrize("capture, suffix", [(c, ".png") for c in SAMPLES]
                         + [("firewall-reset.pcapng", ".svg"), ("firewall-reset.pcapng", ".pdf")])
def test_timeline_writes_a_ladder_and_an_overview_in_the_format_of_the_extension(tmp_path, capture, suffix):
    for extra, name in ((["--stream", "0"], "ladder"), ([], "overview")):
        out = tmp_path / f"{name}{suffix}"
        result = run("timeline", CAPTURES / capture, *extra, "-o", out)
        assert result.exit_code == 0, result.output
        assert out.read_bytes().startswith(MAGIC[suffix])


def test_timeline_tsg_and_text_ladder(tmp_path):
    out = tmp_path / "tsg.png"
    assert run("timeline", CAPTURES / "clean.pcap", "--kind", "tsg", "-o", out).exit_code == 0
    assert out.read_bytes().startswith(MAGIC[".png"])
    text = run("timeline", CAPTURES / "firewall-reset.pcapng", "--stream", "0").output
    assert "verdict: MIDDLEBOX" in text and "TTL 61 observed, 122 expected" in text


def test_timeline_refuses_unknown_formats_and_ambiguous_selections(tmp_path):
    bad = run("timeline", CAPTURES / "clean.pcap", "-o", tmp_path / "x.gif")
    assert bad.exit_code == 2 and "unknown image format" in bad.output
    many = run("timeline", CAPTURES / "multi-connection.pcap", "--kind", "tsg", "-o", tmp_path / "x.png")
    assert many.exit_code == 2 and "add --stream N" in many.output
    missing = run("timeline", CAPTURES / "clean.pcap", "--stream", "99", "-o", tmp_path / "x.png")
    assert missing.exit_code == 2 and "no conversation 99" in missing.output


def test_ladder_of_the_firewall_reset_highlights_the_forged_rst_at_hop_4():
    a = analysis("firewall-reset.pcapng")
    conversation = a.conversations[0]
    artists = draw_ladder(Figure().add_subplot(), a.table, conversation, a.resets)
    arrows = [x for x in artists if isinstance(x, Annotation) and x.get_gid().startswith("packet-")]
    assert len(arrows) == len(conversation.rows)
    callouts = [x for x in artists if (x.get_gid() or "").startswith("rst-")]
    assert len(callouts) == 1 and "MIDDLEBOX" in callouts[0].get_text()
    origin = [x for x in artists if isinstance(x, Annotation) is False and (x.get_gid() or "").startswith("origin-")]
    assert origin, "the forged RST's origin (hop 4) is marked on its arrow"
    hop_label = [x for x in artists if getattr(x, "get_text", lambda: "")() == "hop 4"]
    assert hop_label


def test_ladder_of_the_blackholed_syn_shows_three_attempts_and_their_gaps():
    a = analysis("syn-blackhole.pcap")
    labels = [x.get_text() for x in draw_ladder(Figure().add_subplot(), a.table, a.conversations[0], a.resets)
              if (x.get_gid() or "").startswith("label-")]
    assert len(labels) == 3 and "retransmission #1, +1.0" in labels[1] and "retransmission #2, +2.0" in labels[2]


def test_overview_of_multi_connection_colours_the_forged_conversation_dark_red():
    a = analysis("multi-connection.pcap")
    artists = draw_overview(Figure().add_subplot(), a.table, a.conversations, a.resets)
    legend = [t.get_text() for t in artists[-1].get_texts()]
    assert "clean (3)" in legend and "reset by middlebox (1)" in legend


def test_hops_text_json_and_image(tmp_path):
    text = run("hops", CAPTURES / "firewall-reset.pcapng").output
    assert ">> RST SENT HERE <<" in text and "hop 4" in text and "hop 7     10.66.6.2:8081" in text
    doc = json.loads(run("hops", CAPTURES / "firewall-reset.pcapng", "--format", "json").output)
    assert doc["hops"][0]["verdict"] == "middlebox"
    assert [n["hop"] for n in doc["hops"][0]["nodes"] if n["kind"] == "resetter"] == [4]
    for suffix in (".png", ".svg", ".pdf"):
        out = tmp_path / f"hops{suffix}"
        assert run("hops", CAPTURES / "firewall-reset.pcapng", "-o", out).exit_code == 0
        assert out.read_bytes().startswith(MAGIC[suffix])
    assert "No TCP resets" in run("hops", CAPTURES / "clean.pcap").output


def test_report_markdown_writes_images_beside_it(tmp_path):
    out = tmp_path / "report.md"
    assert run("report", CAPTURES / "firewall-reset.pcapng", "-o", out).exit_code == 0
    text = out.read_text()
    images = sorted(p.name for p in (tmp_path / "report_files").iterdir())
    assert images == ["hops-1.png", "ladder-0.png", "overview.png"]
    assert all(f"report_files/{name}" in text for name in images)
