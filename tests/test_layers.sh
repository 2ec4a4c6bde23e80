#!/bin/sh
# tests/layers.sh on scratch copies of src/: the tree as it is passes; a
# header of a higher folder, of a folder beside, one named without its
# folder, or a source at the top of src/ fails and is named.
name=layers_check
. "$(dirname "$0")/sh_harness.sh"

copy() { rm -rf "$tmp/t" && mkdir -p "$tmp/t" && cp -r "$top/src" "$tmp/t/"; }
add_line() { sed -i "1i $2" "$tmp/t/src/$1"; }

copy
"$top/tests/layers.sh" "$tmp/t" > "$tmp/out" && ok || bad "the tree as it is fails: $(cat "$tmp/out")"

copy; add_line core/loop.c '#include "bridge/bridge.h"'
"$top/tests/layers.sh" "$tmp/t" > "$tmp/out"; st=$?
if [ "$st" -ne 0 ]; then ok; else bad "an upward include fails"; fi
if grep -q "src/core/loop.c: includes bridge/bridge.h (bridge is above core)" "$tmp/out"; then ok; else bad "it names the file and the header"; fi

copy; add_line letta/letta.c '#include "matrix/matrix.h"'
if ! "$top/tests/layers.sh" "$tmp/t" > "$tmp/out" && grep -q "matrix is beside letta" "$tmp/out"; then ok; else bad "a folder beside on the same floor fails"; fi

copy; add_line net/http.c '#include "loop.h"'
if ! "$top/tests/layers.sh" "$tmp/t" > "$tmp/out" && grep -q "includes \"loop.h\" without its folder" "$tmp/out"; then ok; else bad "a header without its folder fails"; fi

copy; touch "$tmp/t/src/stray.c"
if ! "$top/tests/layers.sh" "$tmp/t" > "$tmp/out" && grep -q "src/stray.c: not in a layer folder" "$tmp/out"; then ok; else bad "a source at the top of src/ fails"; fi

copy; mkdir "$tmp/t/src/extra"; touch "$tmp/t/src/extra/x.c"
if ! "$top/tests/layers.sh" "$tmp/t" > "$tmp/out" && grep -q "src/extra/: a folder on no floor" "$tmp/out"; then ok; else bad "a folder on no floor fails"; fi

echo "$name: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
