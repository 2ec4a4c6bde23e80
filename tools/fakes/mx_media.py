"""The media repository of the fake homeserver, as Synapse 1.67 serves it
(synapse/rest/media/v1/{upload,download,config}_resource.py, _base.py and
media_repository.py at v1.67.0), plus the authenticated endpoints of
newer Synapse (synapse/rest/client/media.py, Matrix 1.11) behind the
`media.authenticated` switch.

  POST /_matrix/media/(v1|r0|v3)/upload[/...]   ?filename=  raw bytes
        access token (the usual auth: an application service's as_token
        with ?user_id= too); no Content-Length 400 "Request must specify
        a Content-Length"; Content-Length over max_upload_size 413
        M_TOO_LARGE "Upload request body is too large"; a filename that
        is not UTF-8 400; no Content-Type: application/octet-stream.
        -> {"content_uri": "mxc://<server_name>/<24 letters>"}
  GET  /_matrix/media/(v1|r0|v3)/download/<server>/<id>[/.../<name>]
        no auth (1.67); unknown 404 M_NOT_FOUND "Not found [b'<server>',
        b'<id>']" (Synapse's respond_404: repr of the path segments), a
        bad server name 404 M_UNKNOWN "Invalid media id token [...]";
        another server's name: 502 M_UNKNOWN "Failed to fetch remote
        media" (Synapse when the remote cannot be reached) unless the
        fake holds that media (control put with a server_name), or 404
        with ?allow_remote=false
  GET  /_matrix/media/(v1|r0|v3)/config          {"m.upload.size": N}
  GET  /_matrix/client/v1/media/download/<server>/<id>[/<name>]
  GET  /_matrix/client/v1/media/config
        only with `authenticated: true` (else 400 M_UNRECOGNIZED, as
        Synapse 1.67 answers any unknown path); access token required.

The media resources are Twisted leaves on Synapse 1.67: any method they do
not serve is 400 M_UNRECOGNIZED (not 405), and everything under
`upload/` or `download/` reaches them. Synapse reads the whole body
before it answers: a body over max(13,107,200, max_upload_size) bytes
(its site's max_request_body_size) never gets an answer - the
connection is reset once that much has arrived (MediaHandler below);
only a body between max_upload_size and that limit gets the 413.

A download answers the stored bytes with the stored Content-Type
(`; charset=UTF-8` added to Synapse's text types), Content-Length, and
Content-Disposition as Synapse's add_file_headers: 1.67 sends it only
when there is a file name (the path's, else the upload's), always
`inline; filename=<token>` or `inline; filename*=utf-8''<%-encoded>`;
with `authenticated: true` the fake plays a current Synapse: always a
Content-Disposition, `inline` for its INLINE_CONTENT_TYPES and
`attachment` otherwise.

Config (control `POST /_fake/config {"media": {...}}`, merged):
  max_upload_size  bytes, default 52,428,800 (Synapse's "50M")
  authenticated    false (Synapse 1.67) | true: the /_matrix/client/v1/
                   media endpoints exist and /versions lists v1.11
  freeze_legacy    true: media stored while it is true are 404 M_NOT_FOUND
                   "Not found" on the unauthenticated download paths
                   (Synapse's enable_authenticated_media); needs
                   authenticated
"""

import base64
import binascii
import hashlib
import ipaddress
import re
import socket
import struct
import time
import urllib.parse

from .mx_store import MatrixError, now_ms, random_id, unknown
from .web import Handler, Request, Response

MEDIA = r"/_matrix/media/(?:v1|r0|v3)"
MEDIA_V1 = r"/_matrix/client/v1/media"
UPLOAD_RE = re.compile(MEDIA + r"/upload(?:/.*)?")
LEGACY_RE = re.compile(MEDIA + r"/(?:upload|download|config)(?:/.*)?")
DOWNLOAD_RE = re.compile(MEDIA + r"/download(/.*)?")
V1_PREFIX = "/_matrix/client/v1/media/"

DEFAULTS = {"max_upload_size": 50 * 1024 * 1024, "authenticated": False,
            "freeze_legacy": False}
# synapse/app/_base.py max_request_body_size: 200 PDUs of 64 KiB, or
# max_upload_size when that is larger.
REQUEST_FLOOR = 200 * 65536

# synapse/rest/media/v1/_base.py (1.67 and current)
TEXT_CONTENT_TYPES = {
    "text/css", "text/csv", "text/html", "text/calendar", "text/plain",
    "text/javascript", "application/json", "application/ld+json",
    "application/rtf", "image/svg+xml", "text/xml"}
# synapse/media/_base.py (current Synapse, Matrix 1.12 dispositions)
INLINE_CONTENT_TYPES = {
    "text/css", "text/plain", "text/csv", "application/json",
    "application/ld+json", "image/jpeg", "image/gif", "image/png",
    "image/apng", "image/webp", "image/avif", "video/mp4", "video/webm",
    "video/ogg", "video/quicktime", "audio/mp4", "audio/webm", "audio/aac",
    "audio/mpeg", "audio/ogg", "audio/wave", "audio/wav", "audio/x-wav",
    "audio/x-pn-wav", "audio/flac", "audio/x-flac"}
FILENAME_SEPARATORS = set('()<>@,;:\\"/[]?={}')
VALID_HOST_RE = re.compile(r"\A[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*\Z")

# What DownloadResource sets before it looks at the media (1.67).
SECURITY_HEADERS = [
    ("Cross-Origin-Resource-Policy", "cross-origin"),
    ("Content-Security-Policy",
     "sandbox; default-src 'none'; script-src 'none'; plugin-types "
     "application/pdf; style-src 'unsafe-inline'; media-src 'self'; "
     "object-src 'self';"),
    ("X-Content-Security-Policy", "sandbox;"),
    ("Referrer-Policy", "no-referrer"),
]


def default_config():
    return dict(DEFAULTS)


def configure(app, changes):
    """Merge `changes` into app.config["media"], checked (ValueError or
    KeyError: a 400 on the control interface)."""
    if not isinstance(changes, dict):
        raise ValueError("media must be an object")
    unknown_keys = set(changes) - set(DEFAULTS)
    if unknown_keys:
        raise KeyError("unknown media keys %s" % sorted(unknown_keys))
    new = dict(app.config["media"], **changes)
    size = new["max_upload_size"]
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValueError("max_upload_size must be an integer >= 0")
    for key in ("authenticated", "freeze_legacy"):
        if not isinstance(new[key], bool):
            raise ValueError("%s must be true or false" % key)
    if new["freeze_legacy"] and not new["authenticated"]:
        raise ValueError("freeze_legacy needs authenticated: true")
    app.config["media"] = new


def versions(ctx, base):
    """/versions: a server with authenticated media says v1.11."""
    if not ctx.config["media"]["authenticated"]:
        return base
    return dict(base, versions=base["versions"] + ["v1.11"])


# -- the store ----------------------------------------------------------------
class Media:
    def __init__(self, server_name, media_id, data, content_type,
                 upload_name, uploader, source, frozen):
        self.server_name = server_name
        self.media_id = media_id
        self.data = data
        self.content_type = content_type
        self.upload_name = upload_name
        self.uploader = uploader
        self.source = source            # "upload" or "control"
        self.frozen = frozen            # stored under freeze_legacy
        self.sha256 = hashlib.sha256(data).hexdigest()
        self.created_ts = now_ms()

    @property
    def mxc(self):
        return "mxc://%s/%s" % (self.server_name, self.media_id)

    def describe(self, with_data=False):
        out = {"mxc": self.mxc, "server_name": self.server_name,
               "media_id": self.media_id, "content_type": self.content_type,
               "size": len(self.data), "sha256": self.sha256,
               "upload_name": self.upload_name, "uploader": self.uploader,
               "source": self.source, "frozen": self.frozen,
               "created_ts": self.created_ts}
        if with_data:
            out["base64"] = base64.b64encode(self.data).decode("ascii")
        return out


class MediaRepo:
    """Every piece of media the fake holds; touched under store.cond."""

    def __init__(self, app):
        self.app = app
        self.reset()

    def reset(self):
        self.items = {}             # (server_name, media_id) -> Media

    def config(self):
        return self.app.config["media"]

    def request_limit(self):
        return max(REQUEST_FLOOR, self.config()["max_upload_size"])

    def add(self, data, content_type, upload_name, uploader, source,
            server_name=None, media_id=None):
        server_name = server_name or self.app.store.server_name
        while media_id is None or (server_name, media_id) in self.items:
            media_id = random_id(24)   # Synapse: random_string(24)
        media = Media(server_name, media_id, data, content_type, upload_name,
                      uploader, source, self.config()["freeze_legacy"])
        self.items[(server_name, media_id)] = media
        return media


# -- the client API -----------------------------------------------------------
def upload(ctx):
    req = ctx.req
    raw = req.header("Content-Length")
    if raw is None:     # also a chunked body: Synapse wants the length
        raise unknown("Request must specify a Content-Length")
    try:
        length = int(raw)
    except ValueError:
        raise unknown("Content-Length value is invalid")
    if length > ctx.app.media.config()["max_upload_size"]:
        raise MatrixError(413, "M_TOO_LARGE",
                          "Upload request body is too large")
    name = _upload_name(req)
    content_type = req.header("Content-Type")
    if content_type is None:
        content_type = "application/octet-stream"
    media = ctx.app.media.add(req.body, content_type, name, ctx.user_id,
                              "upload")
    req.log_extra["mxc"] = media.mxc
    return 200, {"content_uri": media.mxc}


def _upload_name(req):
    """?filename= as Synapse reads it: bytes, then strict UTF-8; empty is
    no name."""
    target = getattr(req, "target", None)
    if target is not None:
        raw = b""
        for pair in urllib.parse.urlsplit(target).query.split("&"):
            key, _, value = pair.partition("=")
            if key == "filename":      # the first one, percent-decoded
                raw = urllib.parse.unquote_to_bytes(value.replace("+", " "))
                break
    else:
        raw = (req.arg("filename") or "").encode("utf-8")
    if not raw:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise unknown("Invalid UTF-8 filename parameter: %r" % (raw,))


def media_config(ctx):
    return 200, {"m.upload.size": ctx.app.media.config()["max_upload_size"]}


def legacy_download(ctx, _rest=None):
    """Everything under download/ (a Twisted leaf): <server>/<id>, and
    any further segments, the last one being a file name."""
    path = ctx.req.path
    rest = DOWNLOAD_RE.fullmatch(path).group(1)
    segments = rest[1:].split("/") if rest is not None else []
    postpath = [s.encode("latin-1") for s in segments]
    if len(segments) < 2 or not valid_server_name(segments[0]):
        raise MatrixError(404, "M_UNKNOWN",
                          "Invalid media id token %r" % (postpath,))
    name = None
    if len(segments) > 2:
        name = urllib.parse.unquote(segments[-1])
    return _serve(ctx, segments[0], segments[1], name, True, postpath)


def v1_download(ctx, server_name, media_id, name=None):
    if not valid_server_name(server_name):
        # Current Synapse lets parse_and_validate_server_name's ValueError
        # through: a 500.
        raise MatrixError(500, "M_UNKNOWN", "Internal server error")
    return _serve(ctx, server_name, media_id, name or None, False, None)


def _serve(ctx, server_name, media_id, name, legacy, postpath):
    repo = ctx.app.media
    config = repo.config()
    modern = config["authenticated"]
    media = repo.items.get((server_name, media_id))
    if server_name != ctx.store.server_name:
        if legacy and not _bool_arg(ctx.req, "allow_remote", True):
            raise _not_found(ctx, postpath, modern)
        if media is None:   # no federation here: the remote is unreachable
            raise MatrixError(502, "M_UNKNOWN", "Failed to fetch remote media")
    elif media is None:
        raise _not_found(ctx, postpath, modern)
    if legacy and config["freeze_legacy"] and media.frozen:
        raise MatrixError(404, "M_NOT_FOUND", "Not found")
    ctx.req.log_extra["mxc"] = media.mxc
    headers = list(SECURITY_HEADERS)
    headers += file_headers(media.content_type, name or media.upload_name,
                            modern)
    return Response(200, media.data, headers)


def _not_found(ctx, postpath, modern):
    """Synapse's respond_404: 1.67 shows the repr of the path segments
    after download/, current Synapse the request path."""
    if modern or postpath is None:
        return MatrixError(404, "M_NOT_FOUND", "Not found '%s'"
                           % ctx.req.path)
    return MatrixError(404, "M_NOT_FOUND", "Not found %r" % (postpath,))


def _bool_arg(req, name, default):
    value = req.arg(name)
    if value is None:
        return default
    if value not in ("true", "false"):
        raise MatrixError(400, "M_INVALID_PARAM",
                          "Boolean query parameter %r must be one of "
                          "['true', 'false']" % name)
    return value == "true"


def file_headers(media_type, upload_name, modern):
    """add_file_headers (synapse/rest/media/v1/_base.py); Content-Length
    is the HTTP layer's."""
    media_type = media_type or "application/octet-stream"
    content_type = media_type
    if media_type.lower() in TEXT_CONTENT_TYPES:
        content_type = media_type + "; charset=UTF-8"
    headers = [("Content-Type", content_type)]
    disposition = None
    if modern:
        inline = media_type.lower().split(";", 1)[0] in INLINE_CONTENT_TYPES
        disposition = "inline" if inline else "attachment"
    if upload_name:
        if _token(upload_name):
            part = "filename=%s" % upload_name
        else:
            part = "filename*=utf-8''%s" % urllib.parse.quote(
                upload_name.encode("utf-8"))
        disposition = "%s; %s" % (disposition or "inline", part)
    if disposition:
        headers.append(("Content-Disposition", disposition))
    if modern:
        headers += [("Cache-Control",
                     "public,max-age=86400,s-maxage=0,proxy-revalidate"),
                    ("ETag", "1")]
    else:
        headers.append(("Cache-Control",
                        "public,max-age=86400,s-maxage=86400"))
    headers.append(("X-Robots-Tag", "noindex, nofollow, noarchive, "
                    "noimageindex"))
    return headers


def _token(name):
    """RFC 2616 token: printable ASCII without separators."""
    return all(32 < ord(c) < 127 and c not in FILENAME_SEPARATORS
               for c in name)


def valid_server_name(name):
    """synapse.util.stringutils.parse_and_validate_server_name."""
    try:
        if name[-1] == "]":
            host = name             # an IPv6 literal, hopefully
        else:
            parts = name.rsplit(":", 1)
            host = parts[0]
            if len(parts) > 1:
                int(parts[1])       # the port
    except (IndexError, ValueError):
        return False
    if host.startswith("["):
        if not host.endswith("]"):
            return False
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return False
        return True
    return bool(VALID_HOST_RE.match(host))


# -- routing helpers (mx_app) -------------------------------------------------
def precheck(app, req):
    """Before routing: Synapse 1.67 has no /_matrix/client/v1/media, any
    method, any path under it."""
    if req.path.startswith(V1_PREFIX) and \
            not app.config["media"]["authenticated"]:
        raise MatrixError(400, "M_UNRECOGNIZED", "Unrecognized request")


def is_leaf_path(path):
    """A path served by one of 1.67's media resources, where a method
    they lack is a 400, not a 405."""
    return LEGACY_RE.fullmatch(path) is not None


# -- control: /_fake/media ----------------------------------------------------
PUT_KEYS = {"base64", "text", "content_type", "uploader", "filename",
            "server_name", "media_id"}


def control(app, req, parts, body):
    repo = app.media
    sub = parts[1:]
    method = req.method
    with app.store.cond:
        if sub == [] and method == "GET":
            return Response.json(200, {"media": [
                m.describe() for m in repo.items.values()],
                "config": repo.config()})
        if sub == [] and method == "POST":
            return Response.json(200, _control_put(app, body))
        if sub == [] and method == "DELETE":
            repo.reset()
            return Response.json(200, {})
        if len(sub) == 2 and method in ("GET", "DELETE"):
            key = tuple(urllib.parse.unquote(s) for s in sub)
            media = repo.items.get(key)
            if media is None:
                return Response.json(404, {"error": "no such media"})
            if method == "DELETE":
                del repo.items[key]
                return Response.json(200, {})
            return Response.json(200, media.describe(with_data=True))
    return None


def _control_put(app, body):
    unknown_keys = set(body) - PUT_KEYS
    if unknown_keys:
        raise KeyError("unknown media keys %s" % sorted(unknown_keys))
    if ("base64" in body) == ("text" in body):
        raise ValueError("give the bytes as base64 or as text (UTF-8)")
    if "base64" in body:
        try:
            data = base64.b64decode(body["base64"], validate=True)
        except (binascii.Error, TypeError) as exc:
            raise ValueError("base64: %s" % exc)
    else:
        data = str(body["text"]).encode("utf-8")
    server_name = body.get("server_name") or app.store.server_name
    if not valid_server_name(server_name):
        raise ValueError("bad server_name %r" % server_name)
    media_id = body.get("media_id")
    if media_id is not None and (not isinstance(media_id, str) or
                                 not re.fullmatch(r"[A-Za-z0-9_-]+",
                                                  media_id)):
        raise ValueError("media_id must be [A-Za-z0-9_-]+")
    if (server_name, media_id) in app.media.items:
        raise ValueError("media exists: mxc://%s/%s"
                         % (server_name, media_id))
    media = app.media.add(data, body.get("content_type",
                                         "application/octet-stream"),
                          body.get("filename"), body.get("uploader"),
                          "control", server_name, media_id)
    return dict(media.describe(), content_uri=media.mxc)


# -- the HTTP layer: raw upload bodies ----------------------------------------
class OverLimit(Exception):
    def __init__(self, size):
        super().__init__("body over the limit")
        self.size = size


class MediaHandler(Handler):
    """web.Handler, with upload bodies read as Synapse's site reads them
    (up to its request limit, else a reset connection) and logged as a
    summary (size, content type, sha256) instead of the bytes."""

    def _dispatch(self):
        path = urllib.parse.urlsplit(self.path).path
        if not UPLOAD_RE.fullmatch(path):
            return super()._dispatch()
        app = self.server.app
        with app.store.cond:
            limit = app.media.request_limit()
        try:
            body = self._read_upload(limit)
        except OverLimit as over:
            self._refuse_upload(path, over.size, limit)
            return
        except (ValueError, OSError):
            self.close_connection = True
            self._write(Response(400, b"bad request body\n"), None)
            return
        req = Request(self.command, self.path, self.headers, body)
        req.target = self.path          # the raw query, for ?filename=
        self._serve_logged(req)

    def _read_upload(self, limit):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked(limit)
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError("bad Content-Length")
        if length > limit:
            self._discard(limit)
            raise OverLimit(length)
        return self.rfile.read(length) if length else b""

    def _read_chunked(self, limit):
        out = bytearray()
        while True:
            line = self.rfile.readline(1024)
            size = int(line.split(b";")[0].strip(), 16)
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return bytes(out)
            if len(out) + size > limit:
                raise OverLimit(len(out) + size)
            out += self.rfile.read(size)
            self.rfile.readline(1024)

    def _discard(self, limit):
        """Take in what Synapse would have read before giving up."""
        left = limit
        while left > 0:
            data = self.rfile.read(min(left, 1 << 16))
            if not data:
                break
            left -= len(data)

    def _refuse_upload(self, path, size, limit):
        req = Request(self.command, self.path, self.headers, b"")
        entry = self._log_entry(req)
        entry["body"] = {"size": size,
                         "content_type": self.headers.get("Content-Type"),
                         "sha256": None}
        entry.update(status=None, fault=None, t_end=time.monotonic(),
                     aborted="request body over %d bytes: connection reset "
                     "(Synapse 1.67)" % limit)
        entry["t_sent"] = entry["t_end"]
        self.server.log.add(entry)
        self.close_connection = True    # closed with an RST
        self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                struct.pack("ii", 1, 0))

    def _log_entry(self, req):
        if not UPLOAD_RE.fullmatch(req.path):
            return super()._log_entry(req)
        data, req.body = req.body, b""
        try:
            entry = super()._log_entry(req)
        finally:
            req.body = data
        entry["body"] = {"size": len(data),
                         "content_type": req.header("Content-Type"),
                         "sha256": hashlib.sha256(data).hexdigest()}
        return entry
