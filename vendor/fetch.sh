#!/bin/sh
# Brings the pinned third-party sources of lettamx in from Debian's source
# packages, verifies them against vendor/manifest and unpacks them into
# vendor/src/<name>/ (ignored by git).
#
#   vendor/fetch.sh                 fetch what is missing, verify, unpack
#   vendor/fetch.sh --print-sha NAME [VERSION]
#                                   download NAME (at VERSION, default: the
#                                   pin) and print its checksum, to move a pin
#
# Environment:
#   LETTAMX_APT_DIR   private apt state (default: build/apt)
#   LETTAMX_DEBIAN_MIRROR
#                     Debian archive URL to use instead of the one this
#                     host's apt is configured with
#   LETTAMX_DEBIAN_SUITE
#                     suite to take source packages from (default: trixie)
#
# The host's apt configuration is never changed: apt-get runs with its own
# sources list, lists and cache under LETTAMX_APT_DIR. The mirror is read
# from the host's configuration so that no host name lives in the repo.
# Success is judged by the .orig tarball being present with the pinned
# checksum, not by apt's exit status: for some packages the mirror lacks the
# .dsc or the Debian tarball, which makes apt report an error although the
# one file we need arrived.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
manifest="$here/manifest"
downloads="$here/downloads"
unpacked="$here/src"
apt_dir=${LETTAMX_APT_DIR:-$top/build/apt}
suite=${LETTAMX_DEBIAN_SUITE:-trixie}
keyring=/usr/share/keyrings/debian-archive-keyring.gpg

say() { printf 'fetch: %s\n' "$*"; }
die() { printf 'fetch: error: %s\n' "$*" >&2; exit 1; }

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

# The first Debian archive (not the security one) the host's apt knows.
host_mirror() {
    if [ -n "${LETTAMX_DEBIAN_MIRROR:-}" ]; then
        printf '%s\n' "$LETTAMX_DEBIAN_MIRROR"; return
    fi
    # Either file may be missing (a classic sources.list, or deb822
    # .sources only): under set -e a failing sed would end the list.
    {
        sed -n 's/^[[:space:]]*URIs:[[:space:]]*//p' /etc/apt/sources.list.d/*.sources 2>/dev/null || true
        grep -hE '^[[:space:]]*deb(-src)?[[:space:]]' /etc/apt/sources.list \
            /etc/apt/sources.list.d/*.list 2>/dev/null |
            sed -E 's/\[[^]]*\]//' | awk '{print $2}'
    } | tr ' ' '\n' | grep -E '^https?://' | grep -v -e security -e updates |
        grep -E '/debian/?$' | head -n 1
}

apt_opts() {
    printf '%s ' \
        -o "Dir::Etc::SourceList=$apt_dir/sources.list" \
        -o "Dir::Etc::SourceParts=$apt_dir/sources.list.d" \
        -o "Dir::Etc::Preferences=$apt_dir/preferences" \
        -o "Dir::Etc::PreferencesParts=$apt_dir/preferences.d" \
        -o "Dir::State::Lists=$apt_dir/lists" \
        -o "Dir::Cache=$apt_dir/cache" \
        -o "APT::Get::List-Cleanup=0" \
        -o "APT::Sandbox::User=root" \
        -o "Debug::NoLocking=1"
}

# Sets up the private apt state once per run and refreshes its source lists.
apt_ready=no
apt_prepare() {
    [ "$apt_ready" = yes ] && return
    command -v apt-get >/dev/null || die "apt-get not found: this needs a Debian (or derived) host, or the tarballs already in $downloads"
    mirror=$(host_mirror)
    [ -n "$mirror" ] || die "no Debian mirror found in /etc/apt; set LETTAMX_DEBIAN_MIRROR"
    mkdir -p "$apt_dir/sources.list.d" "$apt_dir/preferences.d" \
        "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
    : > "$apt_dir/preferences"
    signed=""
    [ -r "$keyring" ] && signed="[signed-by=$keyring] "
    printf 'deb-src %s%s %s main\n' "$signed" "$mirror" "$suite" > "$apt_dir/sources.list"
    say "reading the $suite source index (private apt state in $apt_dir)"
    # A mirror caught mid-sync can fail one index and still serve the
    # sources index we need: retry, then go on; the tarball's checksum is
    # the verdict either way.
    for try in 1 2 3; do
        # shellcheck disable=SC2046
        apt-get $(apt_opts) -q update > "$apt_dir/update.log" 2>&1 && break
        say "apt-get update failed (try $try; see $apt_dir/update.log)"
        sleep "$try"
    done
    apt_ready=yes
}

# Prints the versions of a source package the mirror serves.
served_versions() {
    # shellcheck disable=SC2046
    apt-cache $(apt_opts) showsrc "$1" 2>/dev/null | sed -n 's/^Version: //p' | sort -u | tr '\n' ' ' | sed 's/ $//'
}

# Downloads PACKAGE=VERSION with apt-get source into a scratch directory and
# moves the named .orig tarball into the downloads folder.
download() {
    pkg=$1 ver=$2 orig=$3
    apt_prepare
    scratch="$apt_dir/dl.$pkg"
    rm -rf "$scratch"; mkdir -p "$scratch"
    say "downloading $pkg $ver from Debian $suite"
    # apt's status is not the verdict (see the header); the tarball is.
    # shellcheck disable=SC2046
    (cd "$scratch" && apt-get $(apt_opts) -q source --download-only "$pkg=$ver") \
        > "$apt_dir/source.$pkg.log" 2>&1 || true
    if [ ! -f "$scratch/$orig" ]; then
        served=$(served_versions "$pkg")
        if [ -n "$served" ]; then
            die "$pkg $ver is not served by Debian $suite any more (served: $served).
  To move the pin: edit vendor/manifest (version and tarball name), then run
  vendor/fetch.sh --print-sha $pkg <version> and put the checksum it prints there.
  apt's output: $apt_dir/source.$pkg.log"
        fi
        die "could not download $orig (no version of $pkg found in $suite); see $apt_dir/source.$pkg.log"
    fi
    mkdir -p "$downloads"
    mv "$scratch/$orig" "$downloads/$orig.part"
    mv "$downloads/$orig.part" "$downloads/$orig"
    rm -rf "$scratch"
}

verify() {
    file=$1 want=$2
    got=$(sha_of "$file")
    [ "$got" = "$want" ] && return 0
    die "checksum mismatch for $file
  expected (vendor/manifest): $want
  found:                      $got
  The file is corrupt or not the pinned release. Delete it to download it again."
}

# Unpacks a verified tarball into vendor/src/<name>, dropping the top folder.
# A stamp holding the checksum makes this a no-op when nothing changed.
unpack() {
    name=$1 file=$2 sha=$3
    dest="$unpacked/$name"
    if [ -f "$dest/.lettamx-sha256" ] && [ "$(cat "$dest/.lettamx-sha256")" = "$sha" ]; then
        return
    fi
    rm -rf "$dest" "$dest.tmp"
    mkdir -p "$dest.tmp"
    tar -xf "$file" -C "$dest.tmp" --strip-components=1 ||
        die "cannot unpack $file"
    printf '%s\n' "$sha" > "$dest.tmp/.lettamx-sha256"
    mv "$dest.tmp" "$dest"
    say "unpacked $name into vendor/src/$name"
}

fetch_all() {
    grep -vE '^[[:space:]]*(#|$)' "$manifest" |
    while read -r name pkg ver orig sha upstream; do
        [ -n "$upstream" ] || die "vendor/manifest: malformed line for '$name'"
        file="$downloads/$orig"
        [ -f "$file" ] || download "$pkg" "$ver" "$orig"
        verify "$file" "$sha"
        unpack "$name" "$file" "$sha"
    done
}

print_sha() {
    want=$1 ver=${2:-}
    line=$(grep -vE '^[[:space:]]*(#|$)' "$manifest" | awk -v n="$want" '$1 == n')
    [ -n "$line" ] || die "no dependency named '$want' in vendor/manifest"
    set -- $line
    pkg=$2 pinned=$3
    [ -n "$ver" ] || ver=$pinned
    upstream=${ver%-*}
    apt_prepare
    scratch="$apt_dir/dl.$pkg"
    rm -rf "$scratch"; mkdir -p "$scratch"
    # shellcheck disable=SC2046
    (cd "$scratch" && apt-get $(apt_opts) -q source --download-only "$pkg=$ver") \
        > "$apt_dir/source.$pkg.log" 2>&1 || true
    found=$(ls "$scratch" | grep -E "^${pkg}_${upstream#*:}\.orig\.tar\." | head -n 1 || true)
    [ -n "$found" ] || die "no .orig tarball for $pkg $ver (served: $(served_versions "$pkg"))"
    printf '%s %s\n' "$found" "$(sha_of "$scratch/$found")"
}

case "${1:-}" in
    --print-sha) [ $# -ge 2 ] || die "usage: vendor/fetch.sh --print-sha NAME [VERSION]"
                 print_sha "$2" "${3:-}" ;;
    "")          fetch_all ;;
    -h|--help)   sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' ;;
    *)           die "unknown argument '$1' (try --help)" ;;
esac
