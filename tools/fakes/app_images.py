"""Pictures in the fake App Server's inputs, as letta.js 0.32.18 treats
them (message-image-normalization.ts, image-resize.ts): every image part
with a base64 source (isBase64ImageContentPart: type "image", source
{type "base64", media_type and data non-empty strings}) goes through
sharp in package/image-resize-worker.js before the model sees it. Bytes
sharp cannot read fail the whole turn (image_failure_mode "strict", the
default): turn_finished stop_reason "error" with
  "Failed to prepare image for model: Input buffer contains unsupported
   image format"
and no run, the question not kept; with "drop" the picture is left out
and the turn goes on.

Node's Buffer.from(data, "base64") skips what is not base64, so data that
is not base64 is bytes too (most likely no picture). The fake reads
PNG, JPEG, GIF and WebP by their magic bytes (what lettamx sends); other
formats sharp reads (TIFF, AVIF, SVG...) it does not model.

What an agent got is kept per agent, one entry per picture that reached
the model: {"client_message_id", "conversation_id", "media_type", "size",
"sha256"}: GET /_fake/images?agent_id=A (app_control). Echo agents say
"[image <media_type> <size> bytes]" on a line of their own
(app_script.user_text).
"""

import base64
import binascii
import hashlib
import re

UNSUPPORTED = "Failed to prepare image for model: Input buffer contains " \
    "unsupported image format"
MEDIA_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
NOT_B64 = re.compile(r"[^A-Za-z0-9+/]")


def is_base64_image(part):
    src = part.get("source") if isinstance(part, dict) and \
        part.get("type") == "image" else None
    return isinstance(src, dict) and src.get("type") == "base64" and \
        isinstance(src.get("media_type"), str) and src["media_type"] and \
        isinstance(src.get("data"), str) and src["data"] != ""


def node_b64(data):
    """Buffer.from(data, "base64"): the URL-safe alphabet is taken too,
    other characters are skipped, padding ends it, a lone last character
    is dropped."""
    clean = NOT_B64.sub("", data.split("=", 1)[0].replace("-", "+")
                        .replace("_", "/"))
    clean = clean[:len(clean) - len(clean) % 4 if len(clean) % 4 == 1
                  else len(clean)]
    try:
        return base64.b64decode(clean + "=" * (-len(clean) % 4))
    except binascii.Error:
        return b""


def sniff(data):
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        return "image/png"
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def parts_of(messages):
    """(message, part) of every base64 image of the user messages."""
    for m in messages:
        content = m.get("content")
        if m.get("role", "user") != "user" or not isinstance(content, list):
            continue
        for part in content:
            if is_base64_image(part):
                yield m, part


def unsupported(messages):
    """What the fake cannot tell of a turn's pictures, or None."""
    for _, part in parts_of(messages):
        if part["source"]["media_type"] not in MEDIA_TYPES:
            return "a picture of type %r" % part["source"]["media_type"]
    return None


def failure(messages, mode="strict"):
    """The error the turn fails with at once, or None (mode "drop":
    pictures sharp cannot read are taken out of the messages instead)."""
    for m, part in list(parts_of(messages)):
        if sniff(node_b64(part["source"]["data"])) is None:
            if mode != "drop":
                return UNSUPPORTED
            m["content"] = [p for p in m["content"] if p is not part]
    return None


def received(messages, conv_id):
    """One record per picture that reaches the model."""
    out = []
    for m, part in parts_of(messages):
        data = node_b64(part["source"]["data"])
        out.append({"client_message_id": m.get("client_message_id"),
                    "conversation_id": conv_id,
                    "media_type": part["source"]["media_type"],
                    "size": len(data),
                    "sha256": hashlib.sha256(data).hexdigest()})
    return out


def mention(part):
    """What an echo agent says of a part that is a picture ("" else)."""
    if not is_base64_image(part):
        return None
    return "[image %s %d bytes]" % (part["source"]["media_type"],
                                    len(node_b64(part["source"]["data"])))
