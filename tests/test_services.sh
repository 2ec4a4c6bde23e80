#!/bin/sh
# The service files and `make install`:
#  - the systemd unit passes `systemd-analyze verify` (with the installed
#    binary and manual, so ExecStart= and Documentation= are checked too),
#    says nothing while doing so, and keeps its sandbox (offline security
#    exposure at most 2.0);
#  - the sysusers entry makes the user lettamx (systemd-sysusers --root);
#  - the init scripts are valid POSIX sh (and busybox sh);
#  - make install puts every file where it belongs, with its mode and the
#    paths of the installation in the service files.
# systemd-analyze is skipped, with the reason, only when it is not
# installed (Debian package systemd). Prints "services: N passed, M failed".
name=services
. "$(dirname "$0")/sh_harness.sh"

# ---- make install, as a packager runs it
d=$tmp/dest
if make -s -C "$top" install DESTDIR="$d" PREFIX=/usr INIT=sysv \
        > "$tmp/install.log" 2>&1; then ok
else bad "make install failed:"; sed 's/^/    /' "$tmp/install.log"; fi
want="755 etc/init.d/lettamx
644 etc/lettamx.conf.example
755 usr/bin/lettamx
644 usr/lib/systemd/system/lettamx.service
644 usr/lib/sysusers.d/lettamx.conf
755 usr/share/lettamx/openrc/lettamx
644 usr/share/lettamx/systemd/lettamx.service
644 usr/share/lettamx/systemd/lettamx.sysusers
755 usr/share/lettamx/sysvinit/lettamx
644 usr/share/man/man8/lettamx.8"
got=$(cd "$d" 2> /dev/null && find . -type f -printf '%m %P\n' | sort -k2)
if [ "$got" = "$want" ]; then ok
else bad "installed files:"; echo "$got" | sed 's/^/    /'; fi
cmp -s "$d/etc/init.d/lettamx" "$top/board/common/sysvinit/lettamx" && ok ||
    bad "INIT=sysv did not install the sysvinit script as /etc/init.d/lettamx"

# Another prefix: the service files name the binary where it went.
d2=$tmp/dest2
make -s -C "$top" install DESTDIR="$d2" PREFIX=/opt/lmx SYSCONFDIR=/opt/lmx/etc \
    INIT=openrc > "$tmp/install2.log" 2>&1 || bad "make install PREFIX=/opt/lmx failed"
for f in opt/lmx/lib/systemd/system/lettamx.service opt/lmx/etc/init.d/lettamx \
         opt/lmx/share/lettamx/sysvinit/lettamx; do
    if grep -q /opt/lmx/bin/lettamx "$d2/$f" 2> /dev/null &&
       grep -q /opt/lmx/etc/lettamx.conf "$d2/$f" &&
       ! grep -qE '(^|[^a-z])/(usr/bin/lettamx|etc/lettamx\.conf)' "$d2/$f"; then ok
    else bad "$f does not name /opt/lmx/bin/lettamx and /opt/lmx/etc/lettamx.conf"; fi
done
grep -q '^#!/sbin/openrc-run' "$d2/opt/lmx/etc/init.d/lettamx" && ok ||
    bad "INIT=openrc did not install the OpenRC script"
if make -s -C "$top" install DESTDIR="$tmp/d3" INIT=upstart > /dev/null 2>&1; then
    bad "make install accepted INIT=upstart"
else ok; fi

# ---- every service file is committed (a fresh clone has them: *.d in
# .gitignore once hid a directory called init.d)
if git -C "$top" rev-parse --git-dir > /dev/null 2>&1; then
    for f in sysvinit/lettamx openrc/lettamx systemd/lettamx.service \
             systemd/lettamx.sysusers container/Containerfile container/passwd \
             container/group container/lettamx.conf; do
        git -C "$top" ls-files --error-unmatch "board/common/$f" > /dev/null 2>&1 &&
            ! git -C "$top" check-ignore -q "board/common/$f" && ok ||
            bad "board/common/$f is not tracked by git (ignored?)"
    done
fi

# ---- init scripts parse
for s in sysvinit/lettamx openrc/lettamx; do
    sh -n "$top/board/common/$s" && ok || bad "$s: sh -n"
    if [ -x /bin/busybox ]; then
        /bin/busybox sh -n "$top/board/common/$s" && ok || bad "$s: busybox sh -n"
    fi
done

# ---- systemd
unit=$d/usr/lib/systemd/system/lettamx.service
if ! command -v systemd-analyze > /dev/null 2>&1; then
    echo "services: SKIP systemd-analyze is not installed (Debian package" \
         "systemd): the unit was not verified"
else
    # verify runs ExecStart's binary check and `man lettamx(8)`: point both
    # at the installed tree.
    sed "s|/usr/bin/lettamx|$d/usr/bin/lettamx|" "$unit" > "$tmp/lettamx.service"
    MANPATH=$d/usr/share/man systemd-analyze verify "$tmp/lettamx.service" \
        > "$tmp/verify" 2>&1
    st=$?
    if [ "$st" -eq 0 ] && ! grep -q . "$tmp/verify"; then ok
    else bad "systemd-analyze verify (exit $st):"; sed 's/^/    /' "$tmp/verify"; fi
    # The check must see a broken unit: an unknown value is only a warning.
    sed 's/^ProtectSystem=strict/ProtectSystem=stricter/' "$tmp/lettamx.service" \
        > "$tmp/broken.service"
    MANPATH=$d/usr/share/man systemd-analyze verify "$tmp/broken.service" \
        > "$tmp/verify2" 2>&1
    grep -qi 'protect system' "$tmp/verify2" && ok ||
        bad "verify did not report a broken ProtectSystem="
    for opt in NoNewPrivileges=yes ProtectSystem=strict StateDirectory=lettamx \
               User=lettamx PrivateDevices=yes CapabilityBoundingSet= \
               'SystemCallFilter=@system-service'; do
        grep -qx "$opt" "$unit" && ok || bad "the unit lacks $opt"
    done
    systemd-analyze security --offline=yes "$tmp/lettamx.service" \
        > "$tmp/security" 2>&1
    level=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' \
        "$tmp/security")
    if [ -n "$level" ] && awk -v l="$level" 'BEGIN { exit !(l <= 2.0) }'; then
        ok; echo "services: systemd exposure level $level"
    else bad "security exposure '$level' (want <= 2.0)"; tail -n 3 "$tmp/security"; fi
fi
if command -v systemd-sysusers > /dev/null 2>&1; then
    mkdir -p "$tmp/sysroot/etc"
    systemd-sysusers --root="$tmp/sysroot" \
        "$d/usr/lib/sysusers.d/lettamx.conf" > /dev/null 2>&1
    grep -q '^lettamx:x:[0-9]*:[0-9]*:.*:/var/lib/lettamx:' \
        "$tmp/sysroot/etc/passwd" 2> /dev/null && ok ||
        bad "systemd-sysusers did not make the user lettamx"
fi

echo "services: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
