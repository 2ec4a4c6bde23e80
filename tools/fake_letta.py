#!/usr/bin/env python3
"""A strict, stateful fake of the Letta REST API (v1, as of 0.16.8).

    python3 tools/fake_letta.py --port 0 [--password PW] [--port-file F]
        [--tls-cert F --tls-key K] [--keepalive-idle 5]

Prints "fake_letta listening on http://127.0.0.1:PORT" and runs until
SIGTERM/SIGINT. Idle keep-alive connections are closed after 5 s, as
uvicorn does. See tools/README.md.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fakes import web  # noqa: E402
from fakes.letta_app import LettaApp  # noqa: E402


def main(argv=None):
    parser = web.make_parser(__doc__.splitlines()[1], default_idle=5.0)
    parser.add_argument("--password",
                        help="password mode (LETTA_SERVER_SECURE)")
    parser.add_argument("--version", default="0.16.8")
    args = parser.parse_args(argv)
    web.serve(LettaApp(args.password, args.version), args)


if __name__ == "__main__":
    main()
