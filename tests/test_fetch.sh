#!/bin/sh
# Tests of vendor/fetch.sh and of the build's reaction to its verdicts,
# without the network: apt-get and apt-cache are replaced by stand-ins that
# record their calls and play the mirror (a served version, a missing .dsc).
# Needs the real tarballs in vendor/downloads (make fetch brings them).
name=test_fetch
. "$(dirname "$0")/sh_harness.sh"
check() { if eval "$2"; then ok; else bad "$1"; fi; }

# A copy of the project's vendor/ with the real downloads.
fresh() {
    rm -rf "$tmp/p"; mkdir -p "$tmp/p/vendor"
    cp "$top/vendor/fetch.sh" "$top/vendor/manifest" "$tmp/p/vendor/"
    cp -rL "$top/vendor/downloads" "$tmp/p/vendor/downloads"
}

# Stand-in apt tools: MODE selects what the "mirror" does.
#   offline: any call is a failure (proves no network use)
#   served:  source downloads nothing, showsrc serves 9.9-1
#   nodsc:   source delivers the .orig (copied from $ORIG) but exits 100
fake_apt() {
    mkdir -p "$tmp/bin"
    cat > "$tmp/bin/apt-get" <<'SH'
#!/bin/sh
echo "apt-get $*" >> "$FAKE_LOG"
case "$FAKE_MODE" in
    offline) exit 99 ;;
esac
case "$*" in *" update") exit 0 ;; esac
case "$FAKE_MODE" in
    served) exit 100 ;;
    nodsc) case "$*" in *" source "*) cp "$ORIG" "./$ORIG_NAME" ; echo "E: 404 dsc" >&2; exit 100 ;; esac ;;
esac
exit 0
SH
    cat > "$tmp/bin/apt-cache" <<'SH'
#!/bin/sh
echo "apt-cache $*" >> "$FAKE_LOG"
[ "$FAKE_MODE" = served ] && printf 'Package: jsmn\nVersion: 9.9-1\n'
exit 0
SH
    chmod +x "$tmp/bin/apt-get" "$tmp/bin/apt-cache"
}

run_fetch() {
    (cd "$tmp/p" && PATH="$tmp/bin:$PATH" FAKE_LOG="$tmp/calls" \
        LETTAMX_DEBIAN_MIRROR=http://127.0.0.1:9/debian \
        LETTAMX_APT_DIR="$tmp/p/build/apt" vendor/fetch.sh "$@") > "$tmp/out" 2>&1
}

fake_apt
jsmn=$(awk '$1 == "jsmn" { print $4 }' "$top/vendor/manifest")
jsmn_sha=$(awk '$1 == "jsmn" { print $5 }' "$top/vendor/manifest")

# 1. Everything present: verified, unpacked, apt never called.
fresh; : > "$tmp/calls"
FAKE_MODE=offline run_fetch; rc=$?
check "offline fetch succeeds" '[ $rc -eq 0 ]'
check "offline fetch touches no apt tool" '[ ! -s "$tmp/calls" ]'
check "sources unpacked" '[ -f "$tmp/p/vendor/src/lmdb/libraries/liblmdb/mdb.c" ]'
check "second run is a no-op" 'FAKE_MODE=offline run_fetch && [ ! -s "$tmp/out" ]'

# 2. A corrupted tarball stops everything, naming the file and both sums.
printf 'x' >> "$tmp/p/vendor/downloads/$jsmn"
FAKE_MODE=offline run_fetch; rc=$?
check "corrupt tarball fails" '[ $rc -ne 0 ]'
check "message names the file" 'grep -q "$jsmn" "$tmp/out"'
check "message shows the pinned checksum" 'grep -q "expected.*$jsmn_sha" "$tmp/out"'
check "message shows the found checksum" 'grep -q "found: *[0-9a-f]\{64\}" "$tmp/out"'

# 3. The pinned version is gone from the mirror: say what is served.
fresh; rm "$tmp/p/vendor/downloads/$jsmn"
FAKE_MODE=served run_fetch; rc=$?
check "unserved pin fails" '[ $rc -ne 0 ]'
check "message names the served version" 'grep -q "served: 9.9-1" "$tmp/out"'
check "message says how to move the pin" 'grep -q "print-sha" "$tmp/out"'
check "nothing else was built from" '[ ! -d "$tmp/p/vendor/src/jsmn" ]'

# 4. apt fails for the .dsc, but the .orig arrived with the right sum.
cp "$top/vendor/downloads/$jsmn" "$tmp/orig.keep"
FAKE_MODE=nodsc ORIG="$tmp/orig.keep" ORIG_NAME="$jsmn" run_fetch; rc=$?
check "missing .dsc is not an error" '[ $rc -eq 0 ]'
check "tarball judged by checksum" '[ -f "$tmp/p/vendor/src/jsmn/jsmn.h" ]'

# 5. The build itself stops on a corrupt download (make restarts on it).
rm -rf "$tmp/m"; mkdir -p "$tmp/m"
(cd "$top" && git ls-files -z | xargs -0 tar cf - ) | tar xf - -C "$tmp/m" 2>/dev/null
cp -rL "$top/vendor/downloads" "$tmp/m/vendor/downloads"
printf 'x' >> "$tmp/m/vendor/downloads/$jsmn"
(cd "$tmp/m" && PATH="$tmp/bin:$PATH" FAKE_LOG="$tmp/calls" FAKE_MODE=offline \
    make fetch) > "$tmp/out" 2>&1; rc=$?
check "make stops on a corrupt tarball" '[ $rc -ne 0 ] && grep -q "checksum mismatch" "$tmp/out"'

echo "fetch: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
