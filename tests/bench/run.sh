#!/bin/sh
# Runs every benchmark built from tests/bench/bench_*.c, then the size
# figures of the binary. Benchmarks print "bench <name>: <figure>" lines.
#   tests/bench/run.sh BUILD_DIR
set -u
dir=$1
status=0
bin="$dir/lettamx"
if [ -f "$bin" ]; then
    size=$(wc -c < "$bin")
    echo "bench binary_size: $size bytes ($(awk -v s="$size" 'BEGIN { printf "%.1f", s * 100 / 1048576 }')% of the 1 MiB budget)"
fi
for b in "$dir"/bench/bench_*; do
    [ -x "$b" ] || continue
    "$b" || status=1
done
exit $status
