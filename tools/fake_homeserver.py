#!/usr/bin/env python3
"""A strict, stateful fake Matrix homeserver for one server name.

    python3 tools/fake_homeserver.py --port 0 --server-name localhost \
        [--tls-cert F --tls-key K] [--port-file F] [--shared-secret S]

Prints "fake_homeserver listening on http://127.0.0.1:PORT" and runs until
SIGTERM/SIGINT. See tools/README.md for the endpoints and the control
interface.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fakes import web  # noqa: E402
from fakes.mx_app import HomeserverApp  # noqa: E402


def main(argv=None):
    parser = web.make_parser(__doc__.splitlines()[1], default_idle=60.0)
    parser.add_argument("--server-name", default="localhost")
    parser.add_argument("--shared-secret",
                        help="enable /_synapse/admin/v1/register")
    parser.add_argument("--registration", default="dummy",
                        choices=("dummy", "token", "disabled"))
    parser.add_argument("--registration-token")
    parser.add_argument("--no-synapse-admin", action="store_true",
                        help="answer /_synapse/... as a non-Synapse server")
    args = parser.parse_args(argv)
    app = HomeserverApp(args.server_name, {
        "shared_secret": args.shared_secret,
        "registration": args.registration,
        "registration_token": args.registration_token,
        "synapse_admin": not args.no_synapse_admin})
    web.serve(app, args)


if __name__ == "__main__":
    main()
