#!/bin/sh
# The manual and the example configurations against the binary they
# describe: lettamx.8 is mandoc-lint clean, names every command of
# `lettamx help` and every option of each command's --help, and holds
# every key of `lettamx config keys` (and no other); each board's example
# configuration has every key and passes `lettamx config check`.
# Prints "manpage: N passed, M failed".
name=manpage
. "$(dirname "$0")/sh_harness.sh"
page=${LETTAMX_MAN:-$(dirname "$bin")/lettamx.8}
finish() { echo "manpage: $pass passed, $fail failed"; [ "$fail" -eq 0 ]; exit; }

[ -x "$bin" ] || { bad "no binary at $bin (run make)"; finish; }
[ -f "$page" ] || { bad "no manual at $page (make man)"; finish; }

# mandoc's own complaints about its database are not about the page.
if ! command -v mandoc > /dev/null; then
    bad "mandoc is not installed (Debian package mandoc)"
else
    mandoc -T lint "$page" > "$tmp/lint" 2>&1
    if grep -v 'mandoc\.db' "$tmp/lint" | grep -q .; then
        bad "mandoc -T lint:"; grep -v 'mandoc\.db' "$tmp/lint" | sed 's/^/    /'
    else
        ok
    fi
fi

# Every command in the help table is an item of the command list.
"$bin" help | sed -n '/^commands:/,/^$/p' | awk 'NR > 1 && NF { print $1 }' \
    > "$tmp/cmds"
[ -s "$tmp/cmds" ] || bad "no commands read from 'lettamx help'"
while read -r cmd; do
    if grep -q "^\.It Cm $cmd\( \|$\)" "$page"; then ok
    else bad "command '$cmd' is not described (.It Cm $cmd)"; fi
    # Every option its usage names: "--pid-file" is "Fl Fl pid-file".
    "$bin" "$cmd" --help 2>&1 | grep -oE '(^|[[ |])--?[a-z][a-z-]*' |
        sed 's/^[[ |]//' | sort -u > "$tmp/opts"
    while read -r opt; do
        fl=$(echo "$opt" | sed 's/^--/Fl Fl /; s/^-\([a-z]\)/Fl \1/')
        if grep -q "$fl\( \|$\)" "$page"; then ok
        else bad "option $opt of '$cmd' is not in the manual ($fl)"; fi
    done < "$tmp/opts"
done < "$tmp/cmds"

# The keys in the page are the binary's keys, section by section.
"$bin" config keys | awk '{ print $1 }' > "$tmp/keys"
awk '/^\.Ss The \[[a-z]+\] section$/ { s = substr($3, 2, length($3) - 2) }
     /^\.It Ic [a-z_]+ No = / && s { print s "." $3 }' "$page" > "$tmp/pagekeys"
if [ -s "$tmp/keys" ] && cmp -s "$tmp/keys" "$tmp/pagekeys"; then ok
else
    bad "keys of the manual differ from 'lettamx config keys':"
    diff "$tmp/keys" "$tmp/pagekeys" | sed 's/^/    /'
fi
while read -r sk; do
    env=$(echo "LETTAMX_$sk" | tr 'a-z.' 'A-Z_')
    grep -q "^\.Ev $env \.$" "$page" || bad "no environment name $env"
done < "$tmp/keys"
ok

# Each board's example: every key once, as a setting or commented out, and
# valid once its secret files exist (put in through the environment).
printf 'pw\n' > "$tmp/secret"; chmod 600 "$tmp/secret"
nex=0
for ex in "$top"/build/*/lettamx.conf.example; do
    [ -f "$ex" ] || continue
    # another board's example written by an older build than this binary
    # is stale, not wrong: its own `make test` writes it anew
    [ "$ex" -ot "$bin" ] && continue
    nex=$((nex + 1))
    b=$(basename "$(dirname "$ex")")
    awk '/^\[[a-z]+\]$/ { s = substr($0, 2, length($0) - 2) }
         /^#?[a-z_]+ =/ { k = $1; sub(/^#/, "", k); print s "." k }' "$ex" \
        > "$tmp/exkeys"
    if cmp -s "$tmp/keys" "$tmp/exkeys"; then ok
    else bad "$b example: keys differ"; diff "$tmp/keys" "$tmp/exkeys" | sed 's/^/    /'; fi
    nhelp=$(grep -c '^#   ' "$ex")
    [ "$nhelp" -eq "$(wc -l < "$tmp/keys")" ] && ok ||
        bad "$b example: $nhelp commented descriptions for $(wc -l < "$tmp/keys") keys"
    if env LETTAMX_MATRIX_BOT_PASSWORD_FILE="$tmp/secret" \
           LETTAMX_MATRIX_SHARED_SECRET_FILE="$tmp/secret" \
           LETTAMX_STORE_PATH="$tmp/store" \
           "$bin" config check -c "$ex" > "$tmp/check" 2>&1; then ok
    else bad "$b example fails config check:"; sed 's/^/    /' "$tmp/check"; fi
done
[ "$nex" -gt 0 ] && ok || bad "no example configuration built (make man)"

# A key the table does not have is refused, not written.
if "$bin" config example nosuch.key=1 > /dev/null 2>&1; then
    bad "config example accepted an unknown key"
else ok; fi

finish
