#!/bin/sh
# `lettamx config check` through the real binary: exit status 0/2, one
# message naming file:line or variable and key, values with their origin,
# secret files named but never read out, and the global -c/--config form
# the integration harness uses.
name=config_cli
. "$(dirname "$0")/sh_harness.sh"

# run NAME WANT_STATUS GREP_PATTERN [env ...] -- args...
run() {
    name=$1 want=$2 pat=$3; shift 3
    envs=
    while [ "$1" != -- ]; do envs="$envs $1"; shift; done
    shift
    env $envs "$bin" "$@" > "$tmp/out" 2>&1
    got=$?
    if [ "$got" -ne "$want" ]; then
        bad "$name: status $got, want $want"; sed 's/^/    /' "$tmp/out"
    elif ! grep -q -- "$pat" "$tmp/out"; then
        bad "$name: output lacks '$pat'"; sed 's/^/    /' "$tmp/out"
    else
        ok
    fi
}

if [ ! -x "$bin" ]; then
    echo "config_cli: 0 passed, 1 failed (no binary at $bin)"
    exit 1
fi

printf 's3cr3t-TEST-TOKEN\n' > "$tmp/letta.token"
chmod 600 "$tmp/letta.token"
cat > "$tmp/ok.conf" <<CONF
[matrix]
homeserver_url = http://127.0.0.1:8008
server_name = localhost
[letta]
base_url = http://127.0.0.1:8283
token_file = $tmp/letta.token
[store]
path = $tmp/store
CONF

run valid 0 "homeserver_url = http://127.0.0.1:8008  # $tmp/ok.conf:2" \
    -- config check -c "$tmp/ok.conf"
run global-option 0 "snapshot_dir = $tmp/store/snapshots  # default" \
    -- --config "$tmp/ok.conf" config check
run env-wins 0 "level = debug  # environment LETTAMX_LOG_LEVEL" \
    LETTAMX_LOG_LEVEL=debug -- -c "$tmp/ok.conf" config check
run secret-named 0 "token_file = $tmp/letta.token  # $tmp/ok.conf:6; secret file" \
    -- config check -c "$tmp/ok.conf"
if grep -q 's3cr3t-TEST' "$tmp/out"; then bad "secret printed"; else ok; fi
# Which Letta API, and why; tool modes that run tools unasked are named.
run letta-auto 0 "# letta api: decided at start: GET /app-server-info, then GET /v1/health/" \
    -- config check -c "$tmp/ok.conf"
run letta-ws 0 "# letta api: app-server (\[letta\] base_url is a WebSocket URL)" \
    LETTAMX_LETTA_BASE_URL=ws://127.0.0.1:4500/ws -- config check -c "$tmp/ok.conf"
run letta-rest 0 "# letta api: rest (\[letta\] api = rest)" \
    LETTAMX_LETTA_API=rest -- config check -c "$tmp/ok.conf"
run letta-ws-rest 2 "\[letta\] base_url: 'ws://127.0.0.1:4500/ws' is a WebSocket URL" \
    LETTAMX_LETTA_API=rest LETTAMX_LETTA_BASE_URL=ws://127.0.0.1:4500/ws \
    -- config check -c "$tmp/ok.conf"
run tool-mode 0 "warning: \[letta\] tool_mode = unrestricted: App Server agents run every tool call without asking anyone" \
    LETTAMX_LETTA_TOOL_MODE=unrestricted -- config check -c "$tmp/ok.conf"
run env-bad 2 "environment LETTAMX_LOG_LEVEL: \[log\] level: 'loud'" \
    LETTAMX_LOG_LEVEL=loud -- config check -c "$tmp/ok.conf"
printf '[matrix]\nhomeserver_url = http://h\n[letta]\nbase_url = http://l\ninterval = 5\n' > "$tmp/bad.conf"
run unknown-key 2 "$tmp/bad.conf:5: unknown key 'interval' in \[letta\]" \
    -- config check -c "$tmp/bad.conf"
run missing-file 2 "cannot read $tmp/none.conf" \
    -- config check -c "$tmp/none.conf"
chmod 644 "$tmp/letta.token"
run wide-secret 2 "token_file: secret file $tmp/letta.token must be" \
    -- config check -c "$tmp/ok.conf"
run usage 2 "usage: lettamx config check" -- config frob
# A byte of the file never reaches the terminal as a control character:
# an escape sequence in a section name is shown as '?'.
printf '[matrix]\n[evil\033[2J]\n' > "$tmp/esc.conf"
run escape-shown 2 "esc.conf:2: unknown section \[evil?\[2J\] (known: matrix, appservice, letta, store, log, http, bridge)" \
    -- config check -c "$tmp/esc.conf"
if grep -q "$(printf '\033')" "$tmp/out"; then bad "an escape byte was printed"; else ok; fi
# A NUL in a line is an error, not the end of its value.
printf '[matrix]\nserver_name = a\000b\n' > "$tmp/nul.conf"
run nul-byte 2 "nul.conf:2: NUL byte" -- config check -c "$tmp/nul.conf"
sed "s|^server_name = localhost|server_name = local$(printf '\001')host|" \
    "$tmp/ok.conf" > "$tmp/ctl.conf"
run control-value 2 "\[matrix\] server_name: the value holds a control character" \
    -- config check -c "$tmp/ctl.conf"

echo "config_cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
