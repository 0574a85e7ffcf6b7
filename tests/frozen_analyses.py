"""Frozen answers of the analyses after ingest (reset verdicts, handshake findings, host profiles).

The fast paths of issue 4 (vectorised reset facts, lean packet table) must answer exactly as the
straightforward implementation did. Its answers were written once, before the fast paths replaced it
(commit 1a3410b), for every corpus capture, every sample and lab capture and one generated capture, into
``tests/data/analyses-frozen.json.gz``; ``tests/test_analyses_fast.py`` compares today's answers with them.

Regenerate only after an intended change of behaviour (never to make a speed-up pass), then review:

    python tests/frozen_analyses.py
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FROZEN = ROOT / "tests" / "data" / "analyses-frozen.json.gz"
#: The generated capture: ``benchmarks/generate.py`` arguments (deterministic for a seed).
GENERATED = ("--packets", "30000", "--seed", "7", "--format", "pcap", "--name", "gen-30k-s7")


def generate(out: Path) -> Path:
    """Write the generated capture into ``out`` and return its path."""
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "generate.py"), *GENERATED, "--out", str(out)],
                   check=True, capture_output=True)
    return out / "gen-30k-s7.pcap"


def captures(corpus_dir: Path | None, generated: Path | None) -> dict[str, Path]:
    """Name → path of every capture whose answers are frozen (corpus ones only when it is present)."""
    found = {f"captures/{p.name}": p for p in sorted((ROOT / "captures").iterdir()) if p.suffix in (".pcap", ".pcapng")}
    found |= {f"captures/peer/{p.name}": p for p in sorted((ROOT / "captures" / "peer").glob("*.pcap*"))}
    if corpus_dir is not None and (corpus_dir / "manifest.json").is_file():
        for item in json.loads((corpus_dir / "manifest.json").read_text()):
            expected = json.loads((corpus_dir / item["id"] / "expected.json").read_text())
            found[f"corpus/{item['id']}"] = corpus_dir / item["id"] / expected["capture"]
    if generated is not None:
        found["generated/gen-30k-s7"] = generated
    return found


def answers(path: Path) -> dict:
    """What the analyses say about one capture, as the JSON the CLI prints."""
    from netreset.analysis import Analysis

    analysis = Analysis.of_files([path])
    return {
        "outcomes": [c.outcome for c in analysis.all_conversations],
        "resets": [r.to_dict() for r in analysis.all_resets],
        "handshakes": [f.to_dict() for f in analysis.handshakes],
        "hosts": [h.to_dict() for h in analysis.hosts],
    }


def load() -> dict:
    return json.loads(gzip.decompress(FROZEN.read_bytes()))


def main() -> int:
    import tempfile

    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import CORPUS

    with tempfile.TemporaryDirectory() as tmp:
        paths = captures(CORPUS, generate(Path(tmp)))
        document = {name: answers(path) for name, path in paths.items()}
    FROZEN.parent.mkdir(exist_ok=True)
    FROZEN.write_bytes(gzip.compress(json.dumps(document, sort_keys=True).encode(), mtime=0))
    print(f"wrote {FROZEN.relative_to(ROOT)}: {len(document)} captures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
