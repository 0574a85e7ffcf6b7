"""The JSON encoder of the records: a document (or one item of it) → the text every JSON output holds.

Byte for byte what ``json.dumps(document, indent=2)`` writes, only faster, and in pieces for documents
too big to hold at once. No analysis happens here, and no other format: text tables and CSV are
:mod:`netreset.report.tables`' job.
"""

from __future__ import annotations

from itertools import chain
from json.encoder import c_make_encoder  # the C accelerator (CPython); None elsewhere
from json.encoder import JSONEncoder
from json.encoder import encode_basestring_ascii as _quote
from typing import Any, Callable, Hashable


def render_json(document: dict) -> str:
    """Pretty JSON (stable key order as built) with a trailing newline.

    Byte for byte ``json.dumps(document, indent=2, default=...)``, written by :func:`_encode`: with an
    indent the standard library falls back to its generator-based pure-Python encoder, which spends
    ≈ 1.3 s on the 21,825 verdicts of a 1M-packet capture; one recursive walk appending to a list does
    the same work in a fraction of that. Scalars are spelt by the standard library's own functions."""
    parts: list[str] = []
    _encode(document, "\n", parts)
    parts.append("\n")
    return "".join(parts)


def encode_item(value: Any) -> str:
    """The JSON of one item of a list that is a top-level member of a document (indented as
    :func:`render_json` indents it there): what :func:`write_json` writes for an ``json_items`` entry.

    Called once per record of a streamed analysis, so a record is written from its *shape*'s template
    (:func:`_from_template`) when it has one, else by :func:`_encode`; the bytes are the same."""
    if type(value) is dict:
        text = _from_template(value)
        if text is not None:
            return text
    out: list[str] = []
    _encode(value, _ITEM_NEWLINE, out)
    return "".join(out)


def compact_json(value: Any) -> str:
    """``value`` as one line without spaces (``json.dumps(value, separators=(",", ":"))``): the text of a
    JSON column of the Parquet export (:mod:`netreset.store.schema`), where the open parts of the contract
    (evidence, causes, application events) are stored as JSON."""
    return _COMPACT.encode(value)


def write_json(document: dict, write: Callable[[str], Any], batch: int = 1000) -> None:
    """:func:`render_json` of ``document`` written piece by piece: a top-level value that is neither a
    dict nor str but iterable (a list of records, the merged records of a streamed analysis) is encoded
    item by item (:func:`encode_item`) and flushed every ``batch`` items, so it is never in memory whole;
    one with a ``json_items()`` method gives its items already encoded. Same bytes as render_json."""
    if not document:
        write("{}\n")
        return
    out: list[str] = ["{"]
    for number, (key, value) in enumerate(document.items()):
        out += ("," if number else "", "\n  ", _quote(_key(key)), ": ")
        if isinstance(value, (dict, str)) or not hasattr(value, "__iter__"):
            _encode(value, "\n  ", out)
            continue
        out.append("[")
        count = 0
        encoded = getattr(value, "json_items", None)
        for item in encoded() if encoded is not None else value:
            out += ("," if count else "", "\n    ", item if encoded is not None else encode_item(item))
            count += 1
            if count % batch == 0:
                write("".join(out))
                out = []
        out.append("\n  ]" if count else "]")
    out.append("\n}\n")
    write("".join(out))


def _json_default(value: Any):
    # numpy scalars and tuples that slip into records
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _float(value: float) -> str:
    """As ``json`` spells floats (``allow_nan``: NaN and Infinity as JavaScript does)."""
    if value != value:
        return "NaN"
    if value in (_INF, -_INF):
        return "Infinity" if value > 0 else "-Infinity"
    return float.__repr__(value)


_INF = float("inf")
_COMPACT = JSONEncoder(separators=(",", ":"), default=lambda v: _json_default(v))
_CONSTANTS = {None: "null", True: "true", False: "false"}


def _key(key: Any) -> str:
    """A dict key as ``json`` converts it before quoting (str, float, bool/None, int; else TypeError)."""
    if isinstance(key, str):
        return key
    if isinstance(key, float):
        return _float(key)
    if key is True or key is False or key is None:
        return _CONSTANTS[key]
    if isinstance(key, int):
        return int.__repr__(key)
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")


def _encode(value: Any, newline: str, out: list[str]) -> None:
    """Append the JSON of ``value``; ``newline`` is the line break plus the current indentation."""
    spell = _SCALARS.get(type(value))
    if spell is not None:
        out.append(spell(value))
    elif isinstance(value, str):
        out.append(_quote(value))
    elif value is None or value is True or value is False:
        out.append(_CONSTANTS[value])
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, float):
        out.append(_float(value))
    elif isinstance(value, (list, tuple)):
        _encode_list(value, newline, out)
    elif isinstance(value, dict):
        _encode_dict(value, newline, out)
    else:
        _encode(_json_default(value), newline, out)


#: Exact scalar types and how ``json`` spells them (subclasses take the isinstance path of ``_encode``).
_SCALARS = {str: _quote, int: int.__repr__, float: _float, bool: lambda v: "true" if v else "false",
            type(None): lambda v: "null"}


def _flat_encoder(inner: str):
    """The standard library's C encoder with this level's item separator: for a run of scalars inside a
    container, the indented form is exactly its output between the brackets."""
    found = _FLAT.get(inner)
    if found is None:
        found = _FLAT[inner] = c_make_encoder(None, _json_default, _quote, None, ": ", "," + inner,
                                              False, False, True)
    return found


_FLAT: dict[str, Any] = {}


def _flat_items(run: list | dict, inner: str) -> str:
    """The items of a run of scalars (list items or dict members), indented, without the brackets."""
    return _flat_encoder(inner)(run, 0)[0][1:-1]


def _encode_list(value: list | tuple, newline: str, out: list[str]) -> None:
    if not value:
        out.append("[]")
        return
    inner = newline + "  "
    separator = "," + inner
    out += ("[", inner)
    run: list = []
    for item in value:
        if type(item) in _SCALARS:
            run.append(item)
            continue
        if run:
            out += (_flat_items(run, inner), separator)
            run = []
        _encode(item, inner, out)
        out.append(separator)
    if run:
        out.append(_flat_items(run, inner))
    else:
        out.pop()
    out += (newline, "]")


def _encode_dict(value: dict, newline: str, out: list[str]) -> None:
    if not value:
        out.append("{}")
        return
    inner = newline + "  "
    separator = "," + inner
    out += ("{", inner)
    run: dict = {}
    for key, item in value.items():
        if type(item) in _SCALARS:
            run[key] = item
            continue
        if run:
            out += (_flat_items(run, inner), separator)
            run = {}
        out += (_quote(_key(key)), ": ")
        _encode(item, inner, out)
        out.append(separator)
    if run:
        out.append(_flat_items(run, inner))
    else:
        out.pop()
    out += (newline, "}")


# ── Templates: one record's JSON from its shape ─────────────────────────────────────────────────────
#
# Records of one kind mostly share a shape: the same keys in the same order, the same containers, and
# scalars (str, int, float, bool, None of exactly those types) everywhere else. Their indented JSON is
# then fixed text between the scalars. The text is made once per shape by :func:`_encode` itself (on a
# copy whose scalars are a marker string) and split at the markers; a record of that shape is its
# scalars ("leaves", in document order) spelt by ONE call of the C encoder, with a separator that
# cannot occur in its output (control characters are escaped), and interleaved with the fixed text.
# A shape's key holds every dict's keys and the exact type of every value, so lengths, nesting and
# key order are all in it; anything else (subclasses, numpy scalars, non-str keys, other objects)
# has no template and takes the recursive path. Dict keys are compared by equality, which a non-str
# key can share with another (1 == 1.0 == True): those shapes never get a template, and no str equals
# them.

_ITEM_NEWLINE = "\n    "
_MARK = "\x00"  # the leaves' separator and, quoted, the placeholder in a template's text
_QUOTED_MARK = _quote(_MARK)
_LEAF_TYPES = frozenset(_SCALARS)
_UNUSUAL = None  # in the caches: no template for this shape
_MISSING = object()  # not in a cache yet
_MAX_LEAVES = 512  # bigger containers and records take the recursive path (no pile of big templates)
_MAX_ENTRIES = 2048  # each cache starts again when it reaches this many shapes


class _NoTemplate(Exception):
    """A value met while walking a record that no template can spell (see above)."""


def _refuse(value: Any):
    raise _NoTemplate(type(value).__name__)  # unreachable: leaves are exact scalar types


_LEAVES = c_make_encoder(None, _refuse, _quote, None, ": ", _MARK, False, False, True)

#: exact value types of a container's values → positions of the nested containers (() when all are
#: scalars), or _UNUSUAL when a value is neither an exact scalar nor an exact dict, list or tuple.
_NESTED: dict[tuple, tuple | None] = {}


def _nested(types: tuple) -> tuple | None:
    if len(_NESTED) >= _MAX_ENTRIES:
        _NESTED.clear()
    if _LEAF_TYPES.issuperset(types):
        found: tuple | None = ()
    elif all(t in _LEAF_TYPES or t is dict or t is list or t is tuple for t in types):
        found = tuple(i for i, t in enumerate(types) if t is dict or t is list or t is tuple)
    else:
        found = _UNUSUAL
    _NESTED[types] = found
    return found


def _walk(value: dict | list | tuple, leaves: list) -> tuple:
    """The shape key of a nested container, its leaves appended to ``leaves`` in document order."""
    if type(value) is dict:
        head: tuple | None = tuple(value)
        values = tuple(value.values())
    else:
        head, values = None, value
    if len(values) > _MAX_LEAVES:
        raise _NoTemplate
    types = tuple(map(type, values))
    nested = _NESTED.get(types, _MISSING)
    if nested is _MISSING:
        nested = _nested(types)
    if nested == ():
        leaves += values
        return types if head is None else (head, types)
    if nested is _UNUSUAL:
        raise _NoTemplate
    if head is None and types.count(dict) == len(types):  # a list of dicts: flat ones at C speed
        flat = [*chain.from_iterable(map(dict.values, values))]
        kinds = tuple(map(type, flat))
        if _LEAF_TYPES.issuperset(kinds):
            leaves += flat
            return (_MARK, tuple(map(tuple, values)), kinds)
    key = [head, types]
    start = 0
    for at in nested:
        leaves += values[start:at]
        key.append(_walk(values[at], leaves))
        start = at + 1
    leaves += values[start:]
    return tuple(key)


class _Plan:
    """What a top-level key order and value types share: where the nested containers are, and the
    templates by the nested containers' shape keys."""

    __slots__ = ("nested", "templates")

    def __init__(self, nested: tuple) -> None:
        self.nested = nested
        self.templates: dict[tuple, list[str] | str | None] = {}


_PLANS: dict[tuple, _Plan | None] = {}


def _from_template(value: dict) -> str | None:
    """:func:`encode_item` of a dict from its shape's template; None when it has none."""
    if len(value) > _MAX_LEAVES:
        return None
    head = tuple(value)
    values = tuple(value.values())
    types = tuple(map(type, values))
    plan = _PLANS.get((head, types), _MISSING)
    if plan is _MISSING:
        plan = _new_plan(head, types)
    if plan is None:
        return None
    if plan.nested:
        leaves: list | tuple = []
        subs = []
        start = 0
        try:
            for at in plan.nested:
                leaves += values[start:at]
                subs.append(_walk(values[at], leaves))
                start = at + 1
        except _NoTemplate:
            return None
        leaves += values[start:]
        if len(leaves) > _MAX_LEAVES:
            return None
        shape = tuple(subs)
    else:
        leaves, shape = values, ()
    template = plan.templates.get(shape, _MISSING)
    if template is _MISSING:
        template = _template(value, len(leaves))
        if len(plan.templates) >= _MAX_ENTRIES:
            plan.templates.clear()
        plan.templates[shape] = template
    if template is None:
        return None
    return _spelt(template, leaves)


def _spelt(template: list[str] | str, leaves: list | tuple) -> str:
    """A template's text with its leaves spelt in (ONE call of the C encoder for all of them)."""
    if type(template) is str:  # no leaves
        return template
    text = template[:]
    text[1::2] = "".join(_LEAVES(leaves, 0))[1:-1].split(_MARK)
    return "".join(text)


def encode_leaves(kind: Hashable, leaves: list, record: Callable[[], Any]) -> str:
    """``encode_item(record())`` for a record whose whole layout is fixed by its ``kind`` and the number
    of its scalars, given those scalars (``leaves``, in document order) without building the record:
    e.g. a reset verdict (:meth:`~netreset.analyses.resets.record.ResetVerdict.json_leaves`), whose dicts have
    fixed keys and whose evidence items are five scalars each. ``locate-reset`` encodes one per RST, and
    building the dicts and walking them back to their leaves cost as much as spelling them.

    A template is made from ``record()`` the first time a kind meets a combination of leaf types, and
    kept only if it spells that record exactly as :func:`encode_item` does; leaves that are not all exact
    scalars, or a layout the leaves do not give, take :func:`encode_item` of ``record()``."""
    types = tuple(map(type, leaves))
    template = _BY_LEAVES.get((kind, types), _MISSING)
    if template is _MISSING:
        template = _leaves_template(kind, types, leaves, record())
    if template is None:
        return encode_item(record())
    return _spelt(template, leaves)


#: (kind, exact leaf types) → template (None: that combination is spelt by encode_item).
_BY_LEAVES: dict[tuple, list[str] | str | None] = {}


def _leaves_template(kind: Hashable, types: tuple, leaves: list, value: Any) -> list[str] | str | None:
    template = None
    if _LEAF_TYPES.issuperset(types) and type(value) is dict:
        template = _template(value, len(leaves))
        if template is not None and _spelt(template, leaves) != encode_item(value):
            template = None  # the leaves are not that record's: never use this template
    if len(_BY_LEAVES) >= _MAX_ENTRIES:
        _BY_LEAVES.clear()
    _BY_LEAVES[kind, types] = template
    return template


def _new_plan(head: tuple, types: tuple) -> _Plan | None:
    nested = _NESTED.get(types, _MISSING)
    if nested is _MISSING:
        nested = _nested(types)
    plan = None if nested is _UNUSUAL else _Plan(nested)
    if len(_PLANS) >= _MAX_ENTRIES:
        _PLANS.clear()
    _PLANS[head, types] = plan
    return plan


def _template(value: dict, leaves: int) -> list[str] | str | None:
    """The fixed text of ``value``'s shape as a list ``[text, None, text, None, …, text]`` (a leaf in
    each None), or the whole text when there are no leaves; None when no template may spell it."""
    try:
        marked = _marked(value)
    except _NoTemplate:
        return None
    out: list[str] = []
    _encode(marked, _ITEM_NEWLINE, out)
    texts = "".join(out).split(_QUOTED_MARK)
    if len(texts) != leaves + 1:  # cannot happen: keys holding the marker are refused
        return None
    if not leaves:
        return texts[0]
    template: list = [None] * (2 * leaves + 1)
    template[::2] = texts
    return template


def _marked(value: Any) -> Any:
    """A copy of ``value`` with every leaf replaced by the marker (keys must be str without it)."""
    if type(value) is dict:
        for key in value:
            if not isinstance(key, str) or _MARK in key:
                raise _NoTemplate
        return {key: _marked(item) for key, item in value.items()}
    if type(value) is list or type(value) is tuple:
        return [_marked(item) for item in value]
    if type(value) in _SCALARS:
        return _MARK
    raise _NoTemplate


def json_line(value: Any) -> str:
    """One record as one line of JSON with its newline (JSON Lines, what ``watch --format json`` prints per
    finding): the values :func:`render_json` spells, without the indent."""
    import json

    return json.dumps(value, default=_json_default) + "\n"
