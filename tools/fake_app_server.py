#!/usr/bin/env python3
"""A strict, stateful fake of Letta's App Server (the WebSocket server of
Letta Code's `letta server --listen`, npm @letta-ai/letta-code 0.32.18).

    python3 tools/fake_app_server.py --port 0 [--port-file F]
        [--control-token T] [--ws-token T] [--keepalive-idle 5] [-v]

Prints "fake_app_server listening on http://127.0.0.1:PORT" and runs
until SIGTERM/SIGINT. The WebSocket is ws://127.0.0.1:PORT/ws; with
--ws-token clients must send "Authorization: Bearer T" (the real
server's --ws-auth capability-token). See tools/README.md.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fakes import web  # noqa: E402
from fakes.app_server import AppServerApp  # noqa: E402


def main(argv=None):
    parser = web.make_parser(__doc__.splitlines()[1], default_idle=5.0)
    parser.add_argument("--ws-token",
                        help="bearer token the WebSocket requires")
    args = parser.parse_args(argv)
    web.serve(AppServerApp(args.ws_token), args)


if __name__ == "__main__":
    main()
