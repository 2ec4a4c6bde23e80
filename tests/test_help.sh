#!/bin/sh
# `lettamx CMD --help` for every command `lettamx help` lists: exit 0,
# the text on stdout (nothing on stderr), starting with the command's
# usage line, and every option of that usage line explained on a line of
# its own; `-h` the same; an unknown option is still refused with 2.
name=help
. "$(dirname "$0")/sh_harness.sh"

if [ ! -x "$bin" ]; then
    echo "help: 0 passed, 1 failed (no binary at $bin)"
    exit 1
fi

# the commands, from the list `lettamx help` prints
cmds=$("$bin" help | sed -n 's/^  \([a-z][a-z-]*\) .*/\1/p')
[ -n "$cmds" ] && ok || bad "lettamx help lists no command"

for c in $cmds; do
    case $c in help|version|config) continue ;; esac
    "$bin" "$c" --help > "$tmp/out" 2> "$tmp/err"
    st=$?
    [ "$st" -eq 0 ] && ok || bad "$c --help: exit $st"
    [ -s "$tmp/err" ] && bad "$c --help wrote to stderr: $(cat "$tmp/err")" || ok
    head -n 1 "$tmp/out" | grep -q "^usage: lettamx $c " && ok ||
        bad "$c --help: first line is not its usage: $(head -n 1 "$tmp/out")"
    # each --option of the usage lines has a line that explains it
    for opt in $(grep '^ *\(usage: \)\?lettamx ' "$tmp/out" |
                 grep -o -- '--[a-z-]*' | sort -u); do
        grep -q -- "^  *\(-c, \)\?$opt\b" "$tmp/out" && ok ||
            bad "$c --help: $opt is not explained"
    done
    [ "$(wc -l < "$tmp/out")" -ge 6 ] && ok ||
        bad "$c --help: only the usage, no explanation"
    "$bin" "$c" -h > "$tmp/out2" 2>&1 && cmp -s "$tmp/out" "$tmp/out2" && ok ||
        bad "$c -h differs from $c --help"
    "$bin" "$c" --no-such-option > "$tmp/out" 2>&1
    st=$?
    [ "$st" -eq 2 ] && ok || bad "$c --no-such-option: exit $st, want 2"
done

echo "help: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
