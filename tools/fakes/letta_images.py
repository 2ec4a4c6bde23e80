"""Pictures in the fake Letta REST server's messages: a user message's
content may be a list of parts (letta-openapi.json MessageCreate.content:
LettaMessageContentUnion, discriminated by `type`), and an image part
carries its bytes as {"type":"image","source":{"type":"base64",
"media_type":..., "data":...}} (ImageContent, Base64Image).

Checked as the server's pydantic models check them, with its 422 (a
string detail, letta_app.validation_error): a part that is not an object,
an unknown part `type`, a text part without a string `text`, an image
without `source`, a source `type` other than base64 / url / letta, a
base64 source without a string `media_type` or `data`. Data that is not
base64 at all is a 400 {"detail": "Invalid base64 image data"}: the real
server only fails later, when the model's provider refuses the request;
the fake says so at once (an assumption: no real REST server was at hand
to try it).

What an agent got is kept per agent (`Agent.images`, newest last), one
entry per picture: {"otid", "conversation", "media_type", "size",
"sha256"}; read it with GET /_fake/agents/<id>/images (letta_control).
Echo agents say "[image <media_type> <size> bytes]" after the text
(letta_script.user_text).
"""

import base64
import binascii
import hashlib

PART_TYPES = ("text", "image", "tool_call", "tool_return", "reasoning",
              "redacted_reasoning", "omitted_reasoning")
SOURCE_TYPES = ("base64", "url", "letta")


def _bad(loc, msg, value):
    from .letta_app import validation_error
    return validation_error(loc, msg, value)


def decode(data):
    """The bytes of a base64 string (standard alphabet, padding as
    Python's strict decoder wants), or None."""
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None


def check_content(i, content):
    """Raises the server's error for a bad parts list (strings pass)."""
    from .letta_app import HTTPError
    if not isinstance(content, list):
        return
    for k, part in enumerate(content):
        loc = ("body", "messages", i, "content", k)
        if not isinstance(part, dict):
            raise _bad(loc, "Input should be a valid dictionary", part)
        kind = part.get("type")
        if kind not in PART_TYPES:
            raise _bad(loc, "Input tag %r found using 'type' does not match "
                       "any of the expected tags: %s" % (
                           kind, ", ".join(repr(t) for t in PART_TYPES)),
                       part)
        if kind == "text" and not isinstance(part.get("text"), str):
            raise _bad(loc + ("text",), "Field required" if "text" not in
                       part else "Input should be a valid string",
                       part.get("text"))
        if kind == "image":
            _check_image(loc, part)
            if part["source"]["type"] == "base64" and \
                    decode(part["source"]["data"]) is None:
                raise HTTPError(400, {"detail": "Invalid base64 image "
                                      "data"})


def _check_image(loc, part):
    src = part.get("source")
    if not isinstance(src, dict):
        raise _bad(loc + ("image", "source"), "Field required" if src is
                   None else "Input should be a valid dictionary", src)
    if src.get("type", "base64") not in SOURCE_TYPES:
        raise _bad(loc + ("image", "source"), "Input tag %r found using "
                   "'type' does not match any of the expected tags: 'url',"
                   " 'base64', 'letta'" % src.get("type"), src)
    if src.get("type", "base64") != "base64":
        return
    for key in ("media_type", "data"):
        if not isinstance(src.get(key), str):
            raise _bad(loc + ("image", "source", "base64", key),
                       "Field required" if key not in src else
                       "Input should be a valid string", src.get(key))


def pictures(msgs, conversation):
    """One record per base64 picture of the user messages of a send."""
    out = []
    for m in msgs:
        content = m.get("content")
        if m.get("role") != "user" or not isinstance(content, list):
            continue
        for part in content:
            src = part.get("source") if part.get("type") == "image" else None
            if not isinstance(src, dict) or src.get("type",
                                                    "base64") != "base64":
                continue
            data = decode(src["data"]) or b""
            out.append({"otid": m.get("otid"), "conversation": conversation,
                        "media_type": src["media_type"], "size": len(data),
                        "sha256": hashlib.sha256(data).hexdigest()})
    return out


def mention(part):
    """What an echo agent says of an image part ("" for others)."""
    src = part.get("source") if part.get("type") == "image" else None
    if not isinstance(src, dict):
        return ""
    if src.get("type", "base64") != "base64":
        return "[image %s]" % src.get("type")
    data = decode(src.get("data", "")) or b""
    return "[image %s %d bytes]" % (src.get("media_type"), len(data))
