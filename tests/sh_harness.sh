# Sourced by the shell tests after they set `name`: strict variables,
# top (the checkout), bin (the lettamx under test: $LETTAMX, else the
# native build), tmp (a scratch directory, removed at exit unless KEEP
# is set), and ok/bad, which count the checks (bad prints why) for the
# closing "<name>: N passed, M failed" line each test prints.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${LETTAMX:-$top/build/x86_64/lettamx}
tmp=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT INT TERM
pass=0 fail=0

ok()  { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); printf '%s: FAIL %s\n' "$name" "$*"; }
