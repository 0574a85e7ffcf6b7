"""Which files are captures: the names a directory given as input is searched for.

Shared by the commands (a directory stands for the capture files directly inside it), the Python API
(the same) and ``netreset fleet``/``export`` (which search directories recursively and take globs).
The format itself is always decided from a file's first bytes, never its name
(:mod:`netreset.ingest.containers.open`); the names only pick files out of a directory.
"""

from __future__ import annotations

from pathlib import Path

from netreset.errors import NetresetError

#: Names of capture files a directory is searched for (lower-case suffixes, gzipped or not).
CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap", ".pcap.gz", ".pcapng.gz", ".cap.gz")


def is_capture_name(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(CAPTURE_SUFFIXES)


def expand_captures(paths: tuple[str, ...]) -> list[Path]:
    """Capture paths as given; a directory stands for the capture files directly inside it."""
    result: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if is_capture_name(p))
            if not found:
                raise NetresetError(f"{raw}: directory holds no capture files ({', '.join(CAPTURE_SUFFIXES[:3])})")
            result.extend(found)
        else:
            result.append(path)
    return result
