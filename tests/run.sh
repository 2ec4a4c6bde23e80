#!/bin/sh
# Runs lettamx's test suites and prints one closing line "N passed, N failed".
#
#   tests/run.sh --unit DIR [--run PREFIX] [--bin LETTAMX] [--integration]
#                [--smoke-run PREFIX2] [--no-shell] [--san-reports DIR2]
#
# DIR holds the built unit-test programs (test_*) and fuzz replayers
# (fuzz_*). PREFIX runs each of them (qemu-aarch64 for a cross build).
# PREFIX2 runs the smoke test once more (armel: the ARMv5TE arm926 core,
# so no newer instruction slips in). The integration tests run the binary
# under PREFIX too. --no-shell skips the shell-level tests of the build
# tooling. --san-reports: LETTAMX is a sanitized build; every report of
# ASan or UBSan, from whichever process, goes to a file in DIR2, and any
# such file fails the run (suite "sanitizers").
# Each suite ends with a line "<suite>: N passed, M failed"; a program that
# dies before printing it counts as one failure, so a crash never passes.
set -u

unit_dir= run= bin= integration=no smoke_run= shell=yes san_dir=
while [ $# -gt 0 ]; do
    case "$1" in
        --unit) unit_dir=$2; shift 2 ;;
        --run) run=$2; shift 2 ;;
        --bin) bin=$2; shift 2 ;;
        --integration) integration=yes; shift ;;
        --smoke-run) smoke_run=$2; shift 2 ;;
        --no-shell) shell=no; shift ;;
        --san-reports) san_dir=$2; shift 2 ;;
        *) echo "tests/run.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

top=$(cd "$(dirname "$0")/.." && pwd)
log=$(mktemp)
trap 'rm -f "$log" "$log.one" "$log.all"' EXIT INT TERM
# Test secrets use this marker; it must never appear in any output.
secret_marker='s3cr3t-TEST-TOKEN'
: > "$log.all"

# Runs one suite, shows its output, keeps its summary line.
suite() {
    label=$1; shift
    "$@" > "$log.one" 2>&1
    status=$?
    cat "$log.one"
    cat "$log.one" >> "$log.all"
    line=$(grep -E '^[A-Za-z0-9_.-]+: [0-9]+ passed, [0-9]+ failed' "$log.one" | tail -n 1)
    if [ -z "$line" ]; then
        echo "$label: 0 passed, 1 failed (exit status $status, no summary: crashed?)"
        echo "$label: 0 passed, 1 failed" >> "$log"
    elif [ "$status" -ne 0 ] && echo "$line" | grep -q ' 0 failed'; then
        echo "$label: exit status $status despite no failed test"
        echo "$label: 0 passed, 1 failed" >> "$log"
        echo "$line" >> "$log"
    else
        echo "$line" >> "$log"
    fi
}

if [ -n "$san_dir" ]; then
    rm -rf "$san_dir" && mkdir -p "$san_dir" || exit 2
    export ASAN_OPTIONS="log_path=$san_dir/asan:detect_leaks=1"
    export UBSAN_OPTIONS="log_path=$san_dir/ubsan:print_stacktrace=1"
fi

suite lint "$top/tests/lint.sh"
suite layers "$top/tests/layers.sh"

# The binary itself starts (under qemu for a cross build) and names its
# dependencies.
smoke() {
    out=$($run "$bin" version 2>&1) || { echo "smoke: version failed: $out"; echo "smoke: 0 passed, 1 failed"; return 1; }
    for dep in mbedTLS LMDB jsmn md4c; do
        echo "$out" | grep -q "$dep" || { echo "smoke: no $dep in: $out"; echo "smoke: 0 passed, 1 failed"; return 1; }
    done
    echo "smoke: 1 passed, 0 failed"
}
[ -n "$bin" ] && suite smoke smoke
if [ -n "$bin" ] && [ -n "$smoke_run" ]; then
    # The label names the emulated core: "smoke-arm926".
    smoke_label=smoke-$(echo "$smoke_run" | awk '{print $NF}')
    smoke_alt() { run=$smoke_run smoke | sed "s/^smoke:/$smoke_label:/"; }
    suite "$smoke_label" smoke_alt
fi

if [ -n "$unit_dir" ]; then
    for t in "$unit_dir"/test_*; do
        [ -x "$t" ] || continue
        suite "$(basename "$t")" $run "$t"
    done
    for f in "$unit_dir"/fuzz_*; do
        [ -x "$f" ] || continue
        name=$(basename "$f"); name=${name#fuzz_}
        suite "fuzz_$name" $run "$f" "$top/tests/fuzz/corpus/$name" \
            "$top/tests/fuzz/crashes/$name"
    done
fi

# Shell-level tests of the build tooling need no target emulation.
if [ -z "$run" ] && [ "$shell" = yes ]; then
    for s in "$top"/tests/test_*.sh; do
        [ -x "$s" ] || continue
        suite "$(basename "$s" .sh)" "$s"
    done
fi

if [ "$integration" = yes ]; then
    py=/usr/bin/python3
    [ -x "$py" ] || py=python3
    if [ -f "$top/tests/integration/run.py" ]; then
        # Two test classes at a time (LETTAMX_TEST_JOBS; one on a
        # single CPU): the tests mostly wait on scripted delays, so this
        # halves the run.
        jobs=$(nproc 2>/dev/null || echo 1)
        [ "$jobs" -gt 2 ] && jobs=2
        suite integration "$py" "$top/tests/integration/run.py" \
            --lettamx "$bin" --run "$run" --jobs "${LETTAMX_TEST_JOBS:-$jobs}"
    fi
fi

# A sanitizer report fails the run even when the test that caused it
# passed (a leak at exit, an error in a process no test waited for).
sanitizers() {
    reports=$(ls "$san_dir" 2>/dev/null)
    if [ -z "$reports" ]; then
        echo "sanitizers: 1 passed, 0 failed"
        return 0
    fi
    for f in $reports; do
        echo "==== $san_dir/$f"
        head -n 40 "$san_dir/$f"
    done
    echo "sanitizers: 0 passed, $(echo "$reports" | wc -l) failed"
}
[ -n "$san_dir" ] && suite sanitizers sanitizers

if grep -q "$secret_marker" "$log.all"; then
    echo "secrets: a test secret reached the output:"
    grep -n "$secret_marker" "$log.all" | head -n 5
    echo "secrets: 0 passed, 1 failed" >> "$log"
else
    echo "secrets: 1 passed, 0 failed" >> "$log"
fi

awk '{ p += $2; f += $4 } END { printf "%d passed, %d failed\n", p, f; exit (f > 0) }' "$log"
