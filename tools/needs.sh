#!/bin/sh
# What each make target needs from the system, in one place: the Makefile
# checks it before it fetches or builds anything, .ci/run installs it on
# a bare machine, README points here.
#
#   tools/needs.sh [--for WHAT] TARGET...   check; install what is missing,
#                                           or stop with the command to run
#   tools/needs.sh --list TARGET...         what the targets need, and why
#   tools/needs.sh --packages TARGET...     their Debian packages, one line
#
# TARGET: build (`make`: the static x86_64 binary), demo, test (also
# Node.js >= 20, npm and Letta's App Server, for the tests that run it),
# fuzz, aarch64 | armhf | armel (`make BOARD=...`), board-test (what
# `make BOARD=... test` adds), appserver, ci (all that .ci/run does).
# WHAT names the command in messages ("make demo").
#
# All there: silent, exit 0. Something missing: as root with apt-get, one
# line says what is installed and why, then `apt-get update` once and
# `apt-get install` (a board's musl-dev:ARCH first gets `dpkg
# --add-architecture ARCH`), and exit 0. Otherwise, or with
# LETTAMX_NO_INSTALL=1: exit 2 with the exact command to run.
# Node.js: Debian 12 has 18, so when `node` is older than 20 it is
# replaced (in /usr/local) by Node.js's own build that the npm registry's
# package node-linux-<cpu> carries, fetched with Debian's npm. The App
# Server goes into build/appserver (or $LETTAMX_APPSERVER_DIR) by
# tools/appserver-install.sh, as any user: it writes only there.
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
# Node.js's own build trusts its bundled CAs only; Debian's trusts the
# system's (a proxy's CA included): npm run here trusts both.
[ -z "${NODE_EXTRA_CA_CERTS:-}" ] && [ -r /etc/ssl/certs/ca-certificates.crt ] &&
    export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
NODE_VERSION=20.20.2
as_dir=${LETTAMX_APPSERVER_DIR:-$top/build/appserver}
log=$top/build/needs-install.log
what=

# group|Debian packages|what needs them
table() {
    cat <<'EOF'
base|make ca-certificates bzip2 xz-utils|make, and fetching the dependencies' sources
build|gcc libc6-dev musl-tools|the static x86_64 build
demo|python3|the demo's fake servers
test|python3 python3-matrix-nio openssl git|the integration tests
tools|mandoc systemd busybox-static|the manual, service file and busybox tests
fuzz|clang libclang-rt-dev libc6-dev|the libFuzzer targets
aarch64|gcc-aarch64-linux-gnu musl-dev:arm64|the aarch64 build
armhf|gcc-arm-linux-gnueabihf musl-dev:armhf|the armhf build
armel|gcc-arm-linux-gnueabi musl-dev:armel|the armel build
qemu|qemu-user python3 python3-matrix-nio openssl|a board's tests under qemu-user
ci|file|CI's size lines
EOF
}

say() { printf '%s\n' "$*" >&2; }

# The groups of a target ("node" and "appserver" are not packages).
groups_of() {
    case $1 in
        build) echo base build ;;
        demo) echo base build demo ;;
        test) echo base build test tools node appserver ;;
        fuzz) echo base fuzz ;;
        aarch64|armhf|armel) echo base "$1" ;;
        board-test) echo qemu ;;
        appserver) echo node appserver ;;
        ci) echo base build demo test tools fuzz aarch64 armhf armel qemu \
                 ci node appserver ;;
        *) return 1 ;;
    esac
}

has_group() { case " $groups " in *" $1 "*) return 0 ;; esac; return 1; }

# Every package of the chosen groups, each once, in table order.
packages() {
    table | awk -F'|' -v g=" $groups " 'index(g, " " $1 " ") {
        n = split($2, p, " ")
        for (i = 1; i <= n; i++) if (!(p[i] in seen)) { seen[p[i]]; printf "%s ", p[i] }
    }' | sed 's/ $//'
}

# Of packages $1, those dpkg does not know as installed. NAME matches any
# architecture, NAME:ARCH only that one. No dpkg-query: none (cannot tell).
missing_of() {
    command -v dpkg-query > /dev/null 2>&1 || return 0
    # shellcheck disable=SC2086,SC2016
    dpkg-query -W -f='${Package}:${Architecture} ${db:Status-Abbrev}\n' \
        $1 2>/dev/null | awk -v want="$1" '
        substr($2, 2, 1) == "i" { ok[$1]; sub(/:.*/, "", $1); ok[$1] }
        END { n = split(want, w, " ")
              for (i = 1; i <= n; i++) if (!(w[i] in ok)) s = s " " w[i]
              print substr(s, 2) }'
}

# "a, b (why); c (why)": the missing packages $1 by what needs them.
why_of() {
    table | awk -F'|' -v g=" $groups " -v m=" $1 " 'index(g, " " $1 " ") {
        n = split($2, p, " "); l = ""
        for (i = 1; i <= n; i++)
            if (index(m, " " p[i] " ") && !(p[i] in seen)) {
                seen[p[i]]; l = l ", " p[i] }
        if (l != "") s = s "; " substr(l, 3) " (" $3 ")"
    } END { print substr(s, 3) }'
}

node_major() {
    node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0
}

node_ok() {
    command -v node > /dev/null 2>&1 && command -v npm > /dev/null 2>&1 &&
        [ "$(node_major)" -ge 20 ] 2>/dev/null
}

appserver_ok() {
    [ -f "$as_dir/package/letta.js" ] &&
        [ -f "$as_dir/node_modules/ws/package.json" ]
}

# Debian packages that bring `node` and `npm` where they are missing.
node_packages() {
    command -v node > /dev/null 2>&1 || printf 'nodejs '
    command -v npm > /dev/null 2>&1 || printf 'npm'
}

# Architectures of NAME:ARCH packages in $1 that dpkg does not know yet.
new_archs() {
    have=" $(dpkg --print-architecture 2>/dev/null) $(dpkg \
        --print-foreign-architectures 2>/dev/null | tr '\n' ' ') "
    for p in $1; do
        case $p in *:*) a=${p#*:}
            case "$have" in *" $a "*) ;; *) have="$have$a "; printf '%s ' "$a" ;; esac ;;
        esac
    done
}

can_install() {
    [ "${LETTAMX_NO_INSTALL:-}" != 1 ] && [ "$(id -u)" = 0 ] &&
        command -v apt-get > /dev/null 2>&1
}

# Stops with the exact command a person runs: $1 the packages (may be
# empty), $2 "node" when Node.js must come too.
stop_with() {
    sudo=sudo; [ "$(id -u)" = 0 ] && sudo=
    if [ -n "$2" ]; then
        cmd="$sudo tools/needs.sh $targets"
    else
        cmd=
        for a in $(new_archs "$1"); do
            cmd="$cmd$sudo dpkg --add-architecture $a && "
        done
        [ -n "$cmd" ] && cmd="$cmd$sudo apt-get update && "
        cmd="$cmd$sudo apt-get install $1"
    fi
    say "${what:-lettamx} needs what is not installed: $3"
    say "run:  $(echo "$cmd" | sed 's/^ *//')"
    case $what in make*) say "then: $what" ;; esac
    exit 2
}

apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    mkdir -p "$(dirname "$log")"
    for a in $(new_archs "$1"); do dpkg --add-architecture "$a"; done
    # A mirror caught mid-sync fails one index while the others are
    # fine: what counts is whether the packages install.
    apt-get update -q > "$log" 2>&1 ||
        say "apt-get update reported an error; trying the install anyway"
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $1 >> "$log" 2>&1 && return 0
    tail -n 15 "$log" >&2
    say "apt-get could not install: $1 (the whole log: $log)"
    exit 2
}

# Node.js's own build of $NODE_VERSION from the npm registry package
# node-linux-<cpu> into /usr/local/lib/node-<version>, linked as
# /usr/local/bin/node (ahead of /usr/bin on PATH).
node_from_npm() {
    case $(dpkg --print-architecture 2>/dev/null || uname -m) in
        amd64|x86_64) cpu=x64 ;;
        arm64|aarch64) cpu=arm64 ;;
        *) say "no Node.js $NODE_VERSION for this machine in the npm registry: install node >= 20 yourself"; exit 2 ;;
    esac
    dir=/usr/local/lib/node-$NODE_VERSION
    t=$(mktemp -d) || exit 2
    if ! (cd "$t" && npm pack "node-linux-$cpu@$NODE_VERSION") \
            >> "$log" 2>&1 || ! mkdir -p "$dir" ||
       ! tar -xzf "$t"/node-linux-*.tgz -C "$dir" --strip-components=1; then
        rm -rf "$t"
        say "could not bring Node.js $NODE_VERSION (npm pack node-linux-$cpu@$NODE_VERSION; see $log)"
        exit 2
    fi
    rm -rf "$t"
    ln -sf "$dir/bin/node" /usr/local/bin/node
    hash -r 2>/dev/null
    node_ok || { say "node is still older than 20 after installing $dir: is /usr/local/bin on PATH first?"; exit 2; }
}

# Debian packages and Node.js: what is missing, installed or asked for.
system_needs() {
    miss=$(missing_of "$(packages)")
    node=
    has_group node && ! node_ok && node=node
    [ -z "$miss$node" ] && return 0
    aptpk=$(echo "$miss $([ -n "$node" ] && node_packages)" | xargs)
    why=$(why_of "$miss")
    [ -n "$node" ] && why="${why:+$why; }Node.js >= 20 and npm (Letta's App Server, for the tests that run it)"
    can_install || stop_with "$aptpk" "$node" "$why"
    how="with apt-get"
    [ -n "$node" ] && how="$how (Node.js $NODE_VERSION from the npm registry if Debian's is older)"
    [ -z "$aptpk" ] && how="Node.js $NODE_VERSION from the npm registry"
    say "${what:-lettamx} needs $why: installing $how, then going on"
    [ -n "$aptpk" ] && apt_install "$aptpk"
    [ -z "$node" ] || node_ok || node_from_npm
}

appserver_needs() {
    has_group appserver && ! appserver_ok || return 0
    if [ "${LETTAMX_NO_INSTALL:-}" = 1 ]; then
        say "${what:-lettamx} needs Letta's App Server (for the tests that run it), not in $as_dir"
        say "run:  tools/appserver-install.sh $as_dir"
        exit 2
    fi
    say "${what:-lettamx} needs Letta's App Server (for the tests that run it): installing it into $as_dir"
    "$top/tools/appserver-install.sh" "$as_dir" >&2 || exit 2
}

list() {
    table | awk -F'|' -v g=" $groups " 'index(g, " " $1 " ") {
        printf "%-50s %s\n", $2, $3 }'
    has_group node && printf '%-50s %s\n' "node >= 20, npm" \
        "Letta's App Server (Debian 12's is 18: Node.js $NODE_VERSION from npm)"
    has_group appserver && printf '%-50s %s\n' \
        "tools/appserver-install.sh" "the App Server itself (npm, into build/appserver)"
}

usage() {
    say "usage: tools/needs.sh [--for WHAT | --list | --packages] TARGET..."
    say "targets: build demo test fuzz aarch64 armhf armel board-test appserver ci"
    exit 2
}

mode=check
case ${1:-} in
    --for) [ $# -ge 2 ] || usage; what=$2; shift 2 ;;
    --list) mode=list; shift ;;
    --packages) mode=packages; shift ;;
    -h|--help) sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
[ $# -gt 0 ] || usage
targets="$*" groups=
for t in "$@"; do
    g=$(groups_of "$t") || { say "tools/needs.sh: unknown target '$t'"; usage; }
    groups="$groups $g"
done
case $mode in
    list) list ;;
    packages) packages; echo ;;
    check) system_needs; appserver_needs ;;
esac
