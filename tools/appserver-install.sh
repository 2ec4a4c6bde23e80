#!/bin/sh
# Installs Letta's App Server (npm @letta-ai/letta-code) for the
# integration tests, offline-capable afterwards:
#
#     tools/appserver-install.sh [DIR]        (default: build/appserver)
#
# `npm pack`s the package into DIR, unpacks it to DIR/package and installs
# beside it (DIR/node_modules) only what the listener (`letta server
# --backend local --listen ws://...`) needs: `ws@8`, and `sharp` (with its
# prebuilt libvips for this platform), which the package's
# image-resize-worker.js runs every picture of an input through; without
# it every turn that carries a picture fails ("Failed to prepare image for
# model"). A full `npm install` of the package fails here (one dependency
# is not in the registry), so it is not attempted. Both come from the
# registry npm is configured with, like the package itself. Idempotent:
# does nothing when DIR/package/letta.js, ws and a sharp that loads are
# there; adds what is missing to an older install.
# Needs node >= 20 and npm. Prints one line saying what it did.
set -eu

VERSION=0.32.18
PKG=@letta-ai/letta-code
SHARP=0.34.5
DIR=${1:-build/appserver}

die() { echo "appserver-install: $*" >&2; exit 1; }

command -v node >/dev/null 2>&1 || die "node not found (node >= 20 needed)"
command -v npm >/dev/null 2>&1 || die "npm not found (needed with node >= 20)"
major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null) ||
    die "cannot run node"
[ "$major" -ge 20 ] 2>/dev/null ||
    die "node >= 20 needed, found $(node --version)"

# sharp counts only when it loads: its native part comes from an optional
# package per platform, which npm may have skipped.
sharp_loads() {
    [ -f "$DIR/node_modules/sharp/package.json" ] &&
    (cd "$DIR" && node -e 'require("sharp")' >/dev/null 2>&1)
}

# ws and sharp, in one npm run: a second `npm install --no-save` would
# prune what the first installed unsaved.
install_deps() {
    (cd "$DIR" && npm install --no-save --no-audit --no-fund ws@8 \
         "sharp@$SHARP" >>install.log 2>&1) ||
        die "npm install ws@8 sharp@$SHARP failed (see $DIR/install.log)"
    [ -f "$DIR/node_modules/ws/package.json" ] || die "ws not installed"
    sharp_loads || die "sharp@$SHARP installed but does not load" \
        "(see $DIR/install.log)"
}

version_of() {
    node -p "require('$(cd "$DIR" && pwd)/$1/package.json').version" \
        2>/dev/null || echo "?"
}

if [ -f "$DIR/package/letta.js" ] && [ -f "$DIR/node_modules/ws/package.json" ]
then
    have=$(version_of package)
    if sharp_loads; then
        echo "appserver-install: $PKG@$have already in $DIR (nothing done)"
        exit 0
    fi
    : >>"$DIR/install.log"
    install_deps
    echo "appserver-install: $PKG@$have already in $DIR; added" \
         "sharp@$(version_of node_modules/sharp)"
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
install_deps
echo "appserver-install: installed $PKG@$VERSION into $DIR/package" \
     "with ws@$(version_of node_modules/ws) sharp@$(version_of node_modules/sharp)"
