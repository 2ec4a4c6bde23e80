#!/usr/bin/env python3
"""A keep-alive HTTPS/1.1 server for tests/test_http.c.

    tls_server.py CERT KEY PORTFILE

Listens on 127.0.0.1 (kernel-chosen port, written to PORTFILE once
listening) and answers, on persistent connections:
    GET /peer       "<client port> <1 if the TLS session was resumed>"
    GET /big/N      N bytes of 'x'
    POST /echo      the request body
Runs until killed.
"""
import http.server
import os
import ssl
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, body):
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path.startswith("/big/"):
            self.reply(b"x" * int(self.path[5:]))
        else:
            reused = int(self.connection.session_reused)
            self.reply(f"{self.client_address[1]} {reused}".encode())

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        self.reply(self.rfile.read(n))


def main():
    cert, key, portfile = sys.argv[1:4]
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    tmp = portfile + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, portfile)
    srv.serve_forever()


if __name__ == "__main__":
    main()
