#!/bin/sh
# The layer rule of src/ (README, "Layout"): a file includes headers of its
# own folder and of folders on lower floors only, never of a folder above
# it or beside it on the same floor, so the arrows between folders run one
# way and a circle stays inside one folder. Also: every .c and .h lives in
# a layer folder, and every folder is on a floor.
#
#   tests/layers.sh [TOP]      TOP: the tree to check (default: this one)
#
# Prints each wrong include as "FILE: includes HEADER (FOLDER is above
# LAYER)" and "layers: N passed, M failed" (one check per file).
top=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$top/src" || exit 2

# Bottom to top; folders on one line are one floor (they may not include
# each other).
floors='core
conf
store
net
matrix letta
prov
app
reconcile
bridge ops
cli'

floor_of() {
    echo "$floors" | awk -v f="$1" '{ for (i = 1; i <= NF; i++) if ($i == f) print NR }'
}

pass=0 fail=0
for f in *.[ch]; do
    [ -e "$f" ] || continue
    echo "src/$f: not in a layer folder"
    fail=$((fail + 1))
done
for dir in */; do
    dir=${dir%/}
    mine=$(floor_of "$dir")
    if [ -z "$mine" ]; then
        echo "src/$dir/: a folder on no floor (add it to tests/layers.sh and README)"
        fail=$((fail + 1))
        continue
    fi
    for f in "$dir"/*.[ch]; do
        [ -e "$f" ] || continue
        bad=$(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([a-z_]*\)\/\([^"]*\)".*/\1 \1\/\2/p' "$f" |
            while read -r other hdr; do
                [ "$other" = "$dir" ] && continue
                theirs=$(floor_of "$other")
                if [ -z "$theirs" ]; then
                    echo "src/$f: includes $hdr (no such layer)"
                elif [ "$theirs" -ge "$mine" ]; then
                    if [ "$theirs" -eq "$mine" ]; then where=beside; else where=above; fi
                    echo "src/$f: includes $hdr ($other is $where $dir)"
                fi
            done)
        # Headers are named by their folder ("store/store.h"); only the
        # generated deps.h lives outside src/.
        plain=$(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"/]*\)".*/\1/p' "$f" | grep -vx 'deps.h' |
            sed "s|^|src/$f: includes \"|; s|\$|\" without its folder|")
        bad=$(printf '%s\n%s' "$bad" "$plain" | sed '/^$/d')
        if [ -n "$bad" ]; then
            echo "$bad"
            fail=$((fail + 1))
        else
            pass=$((pass + 1))
        fi
    done
done
echo "layers: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
