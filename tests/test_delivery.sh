#!/bin/sh
# The delivery tests (tests/delivery/): the busybox root driven through
# /etc/init.d/lettamx and `lettamx run` from the FROM scratch tree, both
# entered with chroot against the fakes. Prints "delivery: N passed, ...".
top=$(cd "$(dirname "$0")/.." && pwd)
py=/usr/bin/python3
[ -x "$py" ] || py=python3
exec "$py" "$top/tests/delivery/run_delivery.py" \
    --lettamx "${LETTAMX:-$top/build/x86_64/lettamx}" "$@"
