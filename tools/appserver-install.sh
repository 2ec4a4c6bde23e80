#!/bin/sh
# Installs Letta's App Server (npm @letta-ai/letta-code) for the
# integration tests, offline-capable afterwards:
#
#     tools/appserver-install.sh [DIR]        (default: build/appserver)
#
# `npm pack`s the package into DIR, unpacks it to DIR/package and installs
# only `ws@8` beside it (DIR/node_modules/ws), which is all the listener
# (`letta server --backend local --listen ws://...`) needs. A full
# `npm install` of the package fails here (one dependency is not in the
# registry), so it is not attempted. Idempotent: does nothing when
# DIR/package/letta.js and DIR/node_modules/ws are there.
# Needs node >= 20 and npm. Prints one line saying what it did.
set -eu

VERSION=0.32.18
PKG=@letta-ai/letta-code
DIR=${1:-build/appserver}

die() { echo "appserver-install: $*" >&2; exit 1; }

command -v node >/dev/null 2>&1 || die "node not found (node >= 20 needed)"
command -v npm >/dev/null 2>&1 || die "npm not found (needed with node >= 20)"
major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null) ||
    die "cannot run node"
[ "$major" -ge 20 ] 2>/dev/null ||
    die "node >= 20 needed, found $(node --version)"

if [ -f "$DIR/package/letta.js" ] && [ -f "$DIR/node_modules/ws/package.json" ]
then
    have=$(node -p "require('$(cd "$DIR" && pwd)/package/package.json').version" \
           2>/dev/null || echo "?")
    echo "appserver-install: $PKG@$have already in $DIR (nothing done)"
    exit 0
fi

mkdir -p "$DIR"
log="$DIR/install.log"
: >"$log"
tgz=$(cd "$DIR" && npm pack --silent "$PKG@$VERSION" 2>>install.log |
      tail -n 1) || die "npm pack $PKG@$VERSION failed (see $log)"
[ -n "$tgz" ] && [ -f "$DIR/$tgz" ] ||
    die "npm pack $PKG@$VERSION gave no tarball (see $log)"
rm -rf "$DIR/package"
tar -xzf "$DIR/$tgz" -C "$DIR" || die "cannot unpack $DIR/$tgz"
[ -f "$DIR/package/letta.js" ] || die "$DIR/package/letta.js missing"
# A bare package.json keeps npm from walking up to another project.
[ -f "$DIR/package.json" ] ||
    echo '{"name":"lettamx-appserver","private":true}' >"$DIR/package.json"
(cd "$DIR" && npm install --no-save --no-audit --no-fund ws@8 \
     >>install.log 2>&1) || die "npm install ws@8 failed (see $log)"
[ -f "$DIR/node_modules/ws/package.json" ] || die "ws not installed"
echo "appserver-install: installed $PKG@$VERSION into $DIR/package" \
     "with ws@$(node -p "require('$(cd "$DIR" && pwd)/node_modules/ws/package.json').version")"
