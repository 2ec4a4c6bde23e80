"""A strict parser for the YAML of an application-service registration.

Synapse reads the registration with PyYAML; lettamx writes a small, plain
subset of YAML, and this reads exactly that subset and refuses everything
else with the line and the reason (a YAMLError), so a test learns at once
that lettamx wrote something a reader could take otherwise:

  - `key: value` mappings in blocks (plain keys: letters, digits, `_`, `.`,
    `-`), nested by indentation with spaces;
  - block sequences (`- item`, also at the indentation of their key, as
    PyYAML allows), of scalars or of mappings (`- exclusive: true` then
    `  regex: "..."`);
  - scalars: "double-quoted" (escapes \\ \\" \\/ \\n \\t \\r \\b \\f \\0 \\xXX
    \\uXXXX), 'single-quoted' ('' for '), and plain: `true`/`false`,
    `null`/`~`, integers, other text;
  - the empty flow collections `[]` and `{}`;
  - comments (a whole line, or ` #` after a value) and one leading `---`.

Refused: tabs in indentation, flow collections with content, anchors,
aliases, tags, block scalars (`|`, `>`), multi-line strings, directives,
several documents, duplicate keys, a plain value holding `: ` or starting
with an indicator (`@`, `%`, `` ` `` and the rest: `regex: @a_.*:x` is not
YAML), and YAML 1.1's yes/no/on/off (PyYAML reads them as booleans: write
true/false, or quote the word).
"""

import re

KEY_RE = re.compile(r"([A-Za-z0-9_][A-Za-z0-9_.\-]*):(?: +(.*))?$")
INT_RE = re.compile(r"[-+]?[0-9]+$")
FLOAT_RE = re.compile(r"[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$")
YAML11_BOOLS = {"yes", "no", "on", "off", "y", "n"}
INDICATORS = "[]{}#&*!|>'\"%@`,?:"
ESCAPES = {"\\": "\\", '"': '"', "/": "/", "n": "\n", "t": "\t", "r": "\r",
           "b": "\b", "f": "\f", "0": "\0", " ": " "}


class YAMLError(ValueError):
    pass


class Line:
    def __init__(self, number, indent, text):
        self.number = number    # 1-based, for the messages
        self.indent = indent
        self.text = text        # without indentation and comment


def fail(line, msg):
    number = line.number if isinstance(line, Line) else line
    raise YAMLError("yaml line %d: %s" % (number, msg))


def parse(text):
    """The registration's YAML as Python values (a dict at the top)."""
    if not isinstance(text, str):
        raise YAMLError("yaml must be a string")
    lines = _lines(text)
    if not lines:
        raise YAMLError("yaml: empty document")
    if lines[0].indent != 0:
        fail(lines[0], "the document must start at column 1")
    if _is_seq_item(lines[0].text):
        fail(lines[0], "the registration must be a mapping, not a list")
    value, end = _block(lines, 0, 0)
    if end != len(lines):
        fail(lines[end], "unexpected indentation")
    return value


def _lines(text):
    out = []
    seen_start = False
    for number, raw in enumerate(text.replace("\r\n", "\n").split("\n"), 1):
        body = raw.rstrip(" ")
        stripped = body.lstrip(" ")
        if "\t" in body[:len(body) - len(stripped)] or \
                stripped.startswith("\t"):
            fail(number, "tabs may not indent YAML")
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("%"):
            fail(number, "YAML directives are not supported")
        if stripped in ("---", "..."):
            if stripped == "---" and not out and not seen_start:
                seen_start = True
                continue
            fail(number, "only one document, with at most one leading ---")
        out.append(Line(number, len(body) - len(stripped),
                        _strip_comment(number, stripped)))
    return out


def _strip_comment(number, text):
    """The line without a trailing ` # comment` (outside quotes)."""
    quote = None
    i = 0
    while i < len(text):
        ch = text[i]
        if quote == '"' and ch == "\\":
            i += 2
            continue
        if quote:
            if ch == quote:
                if quote == "'" and text[i + 1:i + 2] == "'":
                    i += 2
                    continue
                quote = None
        elif ch in "\"'" and (i == 0 or text[i - 1] in " -:[{,"):
            quote = ch
        elif ch == "#" and i > 0 and text[i - 1] == " ":
            return text[:i].rstrip(" ")
        i += 1
    return text


def _is_seq_item(text):
    return text == "-" or text.startswith("- ")


def _block(lines, i, indent):
    """The block (mapping or sequence) whose lines start at lines[i]."""
    if _is_seq_item(lines[i].text):
        return _sequence(lines, i, indent)
    return _mapping(lines, i, indent)


def _mapping(lines, i, indent):
    out = {}
    while i < len(lines) and lines[i].indent == indent:
        line = lines[i]
        if _is_seq_item(line.text):
            fail(line, "a list item where a key was expected")
        match = KEY_RE.match(line.text)
        if not match:
            fail(line, "expected `key: value` (plain keys only), got %r"
                 % line.text)
        key, rest = match.group(1), match.group(2)
        if key in out:
            fail(line, "duplicate key %r" % key)
        i += 1
        if rest is not None and rest != "":
            out[key] = _scalar(line, rest)
            continue
        nxt = lines[i] if i < len(lines) else None
        if nxt is not None and nxt.indent > indent:
            out[key], i = _block(lines, i, nxt.indent)
        elif nxt is not None and nxt.indent == indent and \
                _is_seq_item(nxt.text):
            out[key], i = _sequence(lines, i, indent)
        else:
            out[key] = None
    if i < len(lines) and lines[i].indent > indent:
        fail(lines[i], "unexpected indentation")
    return out, i


def _sequence(lines, i, indent):
    out = []
    while i < len(lines) and lines[i].indent == indent and \
            _is_seq_item(lines[i].text):
        line = lines[i]
        rest = line.text[1:]
        if rest.strip() == "":
            i += 1
            nxt = lines[i] if i < len(lines) else None
            if nxt is not None and nxt.indent > indent:
                item, i = _block(lines, i, nxt.indent)
            else:
                item = None
            out.append(item)
            continue
        pad = len(rest) - len(rest.lstrip(" "))
        content = rest.lstrip(" ")
        inner = indent + 1 + pad
        if _is_seq_item(content):
            fail(line, "nested lists on one line are not supported")
        if KEY_RE.match(content):
            # "- key: value": a mapping whose first line is this one.
            lines[i] = Line(line.number, inner, content)
            item, i = _mapping(lines, i, inner)
        else:
            item = _scalar(line, content)
            i += 1
            if i < len(lines) and lines[i].indent > indent:
                fail(lines[i], "unexpected indentation")
        out.append(item)
    if i < len(lines) and lines[i].indent > indent:
        fail(lines[i], "unexpected indentation")
    return out, i


def _scalar(line, text):
    if text == "[]":
        return []
    if text == "{}":
        return {}
    first = text[0]
    if first == '"':
        return _double_quoted(line, text)
    if first == "'":
        return _single_quoted(line, text)
    if first in "[{":
        fail(line, "flow collections are not supported (only [] and {})")
    if first in "&*!":
        fail(line, "anchors, aliases and tags are not supported")
    if first in "|>":
        fail(line, "block scalars are not supported: quote the value")
    if first in INDICATORS or text.startswith("- "):
        fail(line, "a plain value may not start with %r: quote it" % first)
    if ": " in text or text.endswith(":"):
        fail(line, "a plain value may not hold ': ': quote it")
    if text in ("true", "True", "TRUE"):
        return True
    if text in ("false", "False", "FALSE"):
        return False
    if text in ("null", "Null", "NULL", "~"):
        return None
    if text.lower() in YAML11_BOOLS:
        fail(line, "%r is a boolean to YAML 1.1 readers (PyYAML, so "
             "Synapse): write true/false, or quote it" % text)
    if INT_RE.match(text):
        return int(text)
    if FLOAT_RE.match(text):
        return float(text)
    return text


def _double_quoted(line, text):
    out = []
    i = 1
    while i < len(text):
        ch = text[i]
        if ch == '"':
            _after_quote(line, text, i)
            return "".join(out)
        if ch == "\\":
            esc = text[i + 1:i + 2]
            if esc in ESCAPES:
                out.append(ESCAPES[esc])
                i += 2
                continue
            width = {"x": 2, "u": 4, "U": 8}.get(esc)
            digits = text[i + 2:i + 2 + width] if width else ""
            if not width or len(digits) != width or not all(
                    c in "0123456789abcdefABCDEF" for c in digits):
                fail(line, "bad escape \\%s in a double-quoted string" % esc)
            out.append(chr(int(digits, 16)))
            i += 2 + width
            continue
        out.append(ch)
        i += 1
    fail(line, "unterminated double-quoted string (multi-line strings are "
         "not supported)")


def _single_quoted(line, text):
    out = []
    i = 1
    while i < len(text):
        ch = text[i]
        if ch == "'":
            if text[i + 1:i + 2] == "'":
                out.append("'")
                i += 2
                continue
            _after_quote(line, text, i)
            return "".join(out)
        out.append(ch)
        i += 1
    fail(line, "unterminated single-quoted string (multi-line strings are "
         "not supported)")


def _after_quote(line, text, i):
    if text[i + 1:].strip(" "):
        fail(line, "text after the closing quote: %r" % text[i + 1:])
