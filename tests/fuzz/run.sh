#!/bin/sh
# Runs every libFuzzer target built by `make fuzz` for SECONDS each.
#   tests/fuzz/run.sh BUILD_DIR SECONDS [JOBS]
# JOBS targets run side by side (default: the number of CPUs), so the
# whole run takes about SECONDS x targets / JOBS.
# Each target starts from its committed corpus (tests/fuzz/corpus/<name>,
# read-only) and a working corpus in BUILD_DIR/corpus/<name> that collects
# what it finds. A crash leaves its input in BUILD_DIR/crashes/<name>/: to
# keep it as a regression test, fix the bug and copy the file into
# tests/fuzz/crashes/<name>/ (make test replays that folder).
set -u
dir=$1 secs=$2
jobs=${3:-$(nproc 2>/dev/null || echo 1)}
top=$(cd "$(dirname "$0")/../.." && pwd)

# One target; its verdict goes to BUILD_DIR/fuzz_<name>.result.
one() {
    t=$1
    name=$(basename "$t"); name=${name#fuzz_}
    work="$dir/corpus/$name" crashes="$dir/crashes/$name"
    mkdir -p "$work" "$crashes" "$top/tests/fuzz/corpus/$name"
    log="$dir/fuzz_$name.log"
    "$t" -max_total_time="$secs" -print_final_stats=1 -timeout=10 \
        -rss_limit_mb=2048 -artifact_prefix="$crashes/" \
        "$work" "$top/tests/fuzz/corpus/$name" > "$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    if [ "$rc" -eq 0 ]; then
        echo "fuzz $name: ${execs:-?} executions in ${secs}s, no crash"
    else
        echo "fuzz $name: FAILED after ${execs:-?} executions (exit $rc); see $log and $crashes"
    fi > "$dir/fuzz_$name.result"
}

rm -f "$dir"/fuzz_*.result
running=0
for t in "$dir"/fuzz/fuzz_*; do
    [ -x "$t" ] || continue
    one "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait
        running=0
    fi
done
wait
status=0
for r in "$dir"/fuzz_*.result; do
    [ -f "$r" ] || { echo "fuzz: no target ran"; exit 1; }
    cat "$r"
    grep -q FAILED "$r" && status=1
done
exit $status
