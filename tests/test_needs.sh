#!/bin/sh
# Tests of tools/needs.sh, the one list of what each make target needs,
# and of the Makefile's check before it builds. dpkg-query, dpkg,
# apt-get, id, node and npm are stand-ins on PATH that play the machine
# (what is installed, who we are) and record their calls: nothing is
# installed for real. Prints "needs: N passed, M failed".
name=needs
. "$(dirname "$0")/sh_harness.sh"
check() { if eval "$2"; then ok; else bad "$1"; sed 's/^/    /' "$tmp/err"; fi; }

# A copy of the script (its log goes to the copy's build/) with an App
# Server in place.
mkdir -p "$tmp/p/tools" "$tmp/p/build/appserver/package" \
    "$tmp/p/build/appserver/node_modules/ws" "$tmp/bin"
cp "$top/tools/needs.sh" "$tmp/p/tools/"
touch "$tmp/p/build/appserver/package/letta.js" \
    "$tmp/p/build/appserver/node_modules/ws/package.json"

# FAKE_MISSING: packages dpkg does not have; FAKE_ARCHS: foreign
# architectures; FAKE_UID: who we are; FAKE_NODE: node's major version.
stub() { printf '#!/bin/sh\n%s\n' "$2" > "$tmp/bin/$1"; chmod +x "$tmp/bin/$1"; }
stub dpkg-query 'shift 2; echo "dpkg-query $*" >> "$FAKE_LOG"
for p; do case " $FAKE_MISSING " in *" $p "*) continue ;; esac
  case $p in *:*) echo "$p ii " ;; *) echo "$p:amd64 ii " ;; esac; done'
stub dpkg 'case $1 in
  --print-architecture) echo amd64 ;;
  --print-foreign-architectures) for a in $FAKE_ARCHS; do echo "$a"; done ;;
  *) echo "dpkg $*" >> "$FAKE_LOG" ;; esac'
stub apt-get 'echo "apt-get $*" >> "$FAKE_LOG"'
stub id 'echo "${FAKE_UID:-0}"'
stub node 'echo "${FAKE_NODE:-20}"'
stub npm 'echo "npm $*" >> "$FAKE_LOG"'

# Runs the script's copy; its status in $rc, stdout+stderr in $tmp/err,
# the stand-ins' calls in $tmp/calls.
needs() {
    : > "$tmp/calls"
    env PATH="$tmp/bin:$PATH" FAKE_LOG="$tmp/calls" \
        FAKE_MISSING="${MISSING:-}" FAKE_ARCHS="${ARCHS-arm64 armhf armel}" \
        FAKE_UID="${UID_:-0}" FAKE_NODE="${NODE:-20}" \
        LETTAMX_NO_INSTALL="${NO_INSTALL:-}" \
        "$tmp/p/tools/needs.sh" "$@" > "$tmp/err" 2>&1
    rc=$?
}
lines() { wc -l < "$tmp/err" | tr -d ' '; }
called() { grep -q "$1" "$tmp/calls"; }

# 1. Everything there: silent, nothing installed, well under a second.
t0=$(date +%s%N)
needs --for "make test" test
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "all present: exit 0" '[ $rc -eq 0 ]'
check "all present: silent" '[ ! -s "$tmp/err" ]'
check "all present: no apt-get" '! called apt-get'
check "all present: fast (${ms} ms)" '[ "$ms" -lt 1000 ]'

# 2. Missing, as root: one line saying what and why, then apt-get
#    update once and the install, exit 0.
MISSING="musl-tools python3-matrix-nio" needs --for "make test" test
check "root: exit 0" '[ $rc -eq 0 ]'
check "root: one line" '[ "$(lines)" -eq 1 ]'
check "root: the line names each package and why" \
    'grep -q "make test needs musl-tools (the static x86_64 build); python3-matrix-nio (the integration tests): installing with apt-get" "$tmp/err"'
check "root: apt-get update once, then install" \
    '[ "$(grep -c "^apt-get" "$tmp/calls")" -eq 2 ] &&
     grep "^apt-get" "$tmp/calls" | head -n 1 | grep -q "apt-get update" &&
     grep -q "^apt-get install -y -q --no-install-recommends musl-tools python3-matrix-nio$" "$tmp/calls"'

# 3. Missing, not root: exit 2 with the exact command, nothing run.
UID_=1000 MISSING="musl-tools" needs --for "make demo" build demo
check "not root: exit 2" '[ $rc -eq 2 ]'
check "not root: the exact command" \
    'grep -q "^run:  sudo apt-get install musl-tools$" "$tmp/err"'
check "not root: says why and what next" \
    'grep -q "musl-tools (the static x86_64 build)" "$tmp/err" &&
     grep -q "^then: make demo$" "$tmp/err"'
check "not root: no apt-get" '! called apt-get'

# 4. LETTAMX_NO_INSTALL=1, as root: the check runs, nothing installed.
NO_INSTALL=1 MISSING="python3" needs demo
check "no install: exit 2" '[ $rc -eq 2 ]'
check "no install: the command (root: no sudo)" \
    'grep -q "^run:  apt-get install python3$" "$tmp/err"'
check "no install: no apt-get" '! called apt-get'

# 5. A board's list is its packages only.
pk=$(needs --packages aarch64 board-test; cat "$tmp/err")
has() { case " $pk " in *" $1 "*) true ;; *) false ;; esac; }
check "aarch64: its compiler, its musl and qemu" \
    'has gcc-aarch64-linux-gnu && has musl-dev:arm64 && has qemu-user'
check "aarch64: no other board, no x86_64 musl" \
    'case "$pk" in *armhf*|*armel*|*gnueabi*|*musl-tools*) false ;; *) true ;; esac'
MISSING="musl-dev:armhf gcc-arm-linux-gnueabi musl-tools" needs armel
check "armel: only armel's missing package counts" \
    '[ $rc -eq 0 ] && grep -q "install.* gcc-arm-linux-gnueabi$" "$tmp/calls" && ! grep -q "armhf\|musl-tools" "$tmp/calls"'
MISSING="musl-dev:armhf" needs aarch64
check "aarch64: another board's package is not asked for" \
    '[ $rc -eq 0 ] && [ ! -s "$tmp/err" ] && ! called apt-get'

# 6. A board's architecture dpkg does not know yet: added first.
ARCHS="" MISSING="musl-dev:arm64" needs aarch64
check "root: dpkg --add-architecture before apt-get update" \
    '[ $rc -eq 0 ] && head -n 2 "$tmp/calls" | tail -n 1 | grep -q "^dpkg --add-architecture arm64$" &&
     grep -n "" "$tmp/calls" | grep -q "^3:apt-get update"'
UID_=1000 ARCHS="" MISSING="musl-dev:arm64" needs aarch64
check "not root: the command adds the architecture" \
    'grep -q "^run:  sudo dpkg --add-architecture arm64 && sudo apt-get update && sudo apt-get install musl-dev:arm64$" "$tmp/err"'

# 7. Node.js older than 20, not root: one command does it all.
UID_=1000 NODE=18 needs --for "make test" test
check "node 18: exit 2, the command" \
    '[ $rc -eq 2 ] && grep -q "^run:  sudo tools/needs.sh test$" "$tmp/err" &&
     grep -q "Node.js >= 20" "$tmp/err"'

# 8. No App Server and no installing: the command that installs it.
rm -rf "$tmp/p/build/appserver/package"
NO_INSTALL=1 needs test
check "App Server: exit 2, tools/appserver-install.sh" \
    '[ $rc -eq 2 ] && grep -q "^run:  tools/appserver-install.sh " "$tmp/err"'
needs build
check "App Server: not needed by the build" '[ $rc -eq 0 ] && [ ! -s "$tmp/err" ]'

# 9. make demo stops at once, before any compiler, with the command.
# (MAKELEVEL and MAKEFLAGS come from the make that runs this test.)
mk() {
    (cd "$top" && env -u MAKELEVEL -u MAKEFLAGS -u MFLAGS PATH="$tmp/bin:$PATH" \
        FAKE_LOG="$tmp/calls" FAKE_MISSING="${MISSING:-}" FAKE_ARCHS="arm64 armhf armel" \
        FAKE_UID="${UID_:-0}" FAKE_NODE=20 make -n B="$tmp/b" "$@") > "$tmp/err" 2>&1
    rc=$?
}
UID_=1000 MISSING="musl-tools" mk demo
check "make demo: exit 2" '[ $rc -eq 2 ]'
check "make demo: the command, then make demo" \
    'grep -q "^run:  sudo apt-get install musl-tools$" "$tmp/err" && grep -q "^then: make demo$" "$tmp/err"'
check "make demo: no compiler ran" '! grep -q "musl-gcc\|CC \|fetch:" "$tmp/err"'
UID_=1000 MISSING="musl-tools musl-dev:armhf" mk BOARD=aarch64 fetch
check "make BOARD=aarch64: x86_64's and armhf's packages not asked for" \
    '[ $rc -eq 0 ] && ! grep -q "needs" "$tmp/err"'

echo "needs: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
