"""Network Monitor 2.2+'s side tables: frame comments and the process table, as untrusted text.

Both are read once when the file is opened (the comment table whole, up to :data:`MAX_COMMENT_TABLE`
bytes; the process table record by record) through ``read(offset, size)``, and any damage ends the table
with a one-line description instead of refusing the file: the frames do not depend on either table.

* A comment is ``u32 frames per comment (always 1), u32 file offset of its frame's record, u32 title
  bytes, title (UTF-16LE), u32 description bytes, description`` — the description is RTF, reduced here
  to its plain words.
* A process record is ``u32 path bytes, path (UTF-16LE), u32 icon bytes, icon, u32 pid, u16 local port,
  u16 pad, u16 remote port, u16 pad, u32 is-IPv6, 16-byte local address, 16-byte remote address``,
  after a ``u16`` table version. Each process is listed once, with how many port pairs it had.
"""

from __future__ import annotations

import re
import struct
from typing import Callable

MAX_COMMENT_TABLE = 16 << 20  #: larger comment tables are ignored (NetMon comments are a few lines)
MAX_PROCESSES = 512 * 1024  #: the process-table limit Wireshark applies
MAX_PATH_BYTES = 65536  #: 32767 UTF-16 code units and a NUL, the longest Windows path
MAX_TEXT = 2000  #: characters kept of one comment

Read = Callable[[int, int], bytes]


def read_comment_table(read: Read, offset: int, length: int, file_size: int | None) -> tuple[dict[int, str], str]:
    """{record offset: "title: text"} and a problem description ("" when the table is whole or absent)."""
    if not length:
        return {}, ""
    if length > MAX_COMMENT_TABLE:
        return {}, f"{length} bytes, more than comments ever take; ignored"
    if length < 17 or (file_size is not None and offset + length > file_size):
        return {}, f"{length} bytes at offset {offset} do not fit the file; ignored"
    raw = read(offset, length)
    comments: dict[int, str] = {}
    pos = 0
    while len(raw) - pos > 16:
        _frames, frame_offset, title_len = struct.unpack_from("<III", raw, pos)
        pos += 12
        if not 0 < title_len <= len(raw) - pos - 4:
            return comments, f"comment {len(comments) + 1} has a title of {title_len} bytes; the rest ignored"
        title = _utf16(raw[pos:pos + title_len])
        pos += title_len
        (text_len,) = struct.unpack_from("<I", raw, pos)
        pos += 4
        if text_len > len(raw) - pos:
            return comments, f"comment {len(comments) + 1} has a text of {text_len} bytes; the rest ignored"
        text = rtf_words(raw[pos:pos + text_len].decode("cp1252", errors="replace"))
        pos += text_len
        comments[frame_offset] = _clip(f"{title}: {text}" if text else title)
    return comments, ""


def read_process_table(read: Read, offset: int, count: int, file_size: int | None) -> tuple[list[str], str]:
    """One line per process (path, pid, port pairs) and a problem description ("" when whole or absent)."""
    if not offset or not count:
        return [], ""
    if count > MAX_PROCESSES or (file_size is not None and offset > file_size):
        return [], f"{count} records at offset {offset} do not fit the file; ignored"
    pos = offset + 2  # after the table version
    ports: dict[tuple[str, int], int] = {}
    for number in range(1, count + 1):
        (path_len,) = _unpack(read, pos, "<I")
        if path_len is None or path_len > MAX_PATH_BYTES:
            return _process_lines(ports), f"record {number} is damaged; the rest ignored"
        path = _utf16(read(pos + 4, path_len))
        pos += 4 + path_len
        (icon_len,) = _unpack(read, pos, "<I")
        if icon_len is None or (file_size is not None and pos + 4 + icon_len > file_size):
            return _process_lines(ports), f"record {number} is damaged; the rest ignored"
        pos += 4 + icon_len
        fields = _unpack(read, pos, "<IHHHHI32x")
        if fields[0] is None:
            return _process_lines(ports), f"record {number} is cut short; the rest ignored"
        pos += 48
        key = (path or "(no path)", fields[0])
        ports[key] = ports.get(key, 0) + 1
    return _process_lines(ports), ""


def rtf_words(text: str) -> str:
    """The words of an RTF document (control words, groups like the font table, and braces dropped);
    text that is not RTF comes back with its whitespace folded."""
    if text.lstrip().startswith("{\\rtf"):
        text = re.sub(r"\{\\(?:\*|fonttbl|colortbl|stylesheet|info)(?:[^{}]|\{[^{}]*\})*\}", " ", text)
        text = re.sub(r"\\'([0-9a-fA-F]{2})", lambda m: bytes.fromhex(m.group(1)).decode("cp1252", "replace"), text)
        text = re.sub(r"\\(?:par|line|tab)\b-?\d* ?", " ", text)
        text = re.sub(r"\\[a-zA-Z]+-?\d* ?", "", text)
        text = re.sub(r"\\([\\{}])|[{}]", lambda m: m.group(1) or "", text)
    return " ".join(text.replace("\x00", " ").split())


def _utf16(raw: bytes) -> str:
    return raw[: len(raw) // 2 * 2].decode("utf-16-le", errors="replace").split("\x00", 1)[0].strip()


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "…"


def _unpack(read: Read, pos: int, layout: str) -> tuple:
    size = struct.calcsize(layout)
    raw = read(pos, size)
    return struct.unpack(layout, raw) if len(raw) == size else (None,) * len(struct.unpack(layout, bytes(size)))


def _process_lines(ports: dict[tuple[str, int], int]) -> list[str]:
    return [_clip(f"NetMon process table: {path} (pid {pid}), {n} port pair{'s' if n != 1 else ''}")
            for (path, pid), n in ports.items()]
