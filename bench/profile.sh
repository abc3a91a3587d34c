#!/usr/bin/env bash
# Where a loaded `kern serve --demo` spends its CPU: a perf profile of the server while
# `kern bench` drives it, folded into shares by thread and by function.
#
#   bench/profile.sh [-n RUNS] [-c CONCURRENCY] [--mode background|stream] [--seconds S]
#                    [--poll-interval MS] [--keep DIR] [KERN_BINARY]
#
# Starts `BINARY serve --demo` on a fresh SQLite file, starts `kern bench` against it, waits a
# second for the load to settle, then samples the server with `perf record` (997 Hz, DWARF
# call graphs) for S seconds (default 8) and stops everything. Prints, with
# bench/perf_fold.py: each thread's share of the samples, then for the whole server and for
# its busiest threads the functions with the largest share, self and inclusive (a function's
# share counts every sample it is on the stack of). Needs `perf` and permission to profile
# the process (root, or perf_event_paranoid <= 1). The recording and its text form stay in
# DIR with --keep, for `bench/perf_fold.py` queries of your own (callers, callees, a thread).
# Defaults: 40000 runs (more than the sampling window needs) at concurrency 64, background,
# poll every 10 ms, the release build of this checkout.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. bench/lib.sh

runs=40000; conc=64; mode=background; seconds=8; poll=10; keep=""; bin=""
while [ $# -gt 0 ]; do
    case "$1" in
        -n) runs="$2"; shift 2 ;;
        -c) conc="$2"; shift 2 ;;
        --mode) mode="$2"; shift 2 ;;
        --seconds) seconds="$2"; shift 2 ;;
        --poll-interval) poll="$2"; shift 2 ;;
        --keep) keep="$2"; shift 2 ;;
        -*) echo "unknown argument $1" >&2; exit 2 ;;
        *) bin="$1"; shift ;;
    esac
done
command -v perf >/dev/null || { echo "perf is not installed" >&2; exit 1; }
bin="${bin:-$(kern_release)}"
port="${KERN_BENCH_PORT:-17791}"
work="$(mktemp -d)"
out="${keep:-$work}"
mkdir -p "$out"
pid=""
load=""
cleanup() {
    [ -n "$load" ] && kill "$load" 2>/dev/null || true
    demo_stop
    rm -rf "$work"
}
trap cleanup EXIT

demo_start "$bin" "$work/k.db" "$port" "$work/log"
"$bin" bench --url "http://127.0.0.1:$port" --kind workflows --id bench3 -n "$runs" -c "$conc" \
    --mode "$mode" --poll-interval "$poll" --json >"$work/report.json" &
load=$!
sleep 1
if ! kill -0 "$load" 2>/dev/null; then
    echo "the load ended before sampling began: raise -n" >&2
    exit 1
fi
echo "sampling the server (pid $pid) for ${seconds}s under $mode load at concurrency $conc" >&2
perf record -F 997 -g --call-graph dwarf,16384 -p "$pid" -o "$out/perf.data" \
    -- sleep "$seconds" >/dev/null 2>&1
if ! kill -0 "$load" 2>/dev/null; then
    echo "warning: the load ended during sampling; the profile includes idle time (raise -n)" >&2
fi
perf script -i "$out/perf.data" 2>/dev/null >"$out/perf.txt"
python3 bench/perf_fold.py "$out/perf.txt" summary
[ -n "$keep" ] && echo "kept: $out/perf.data and $out/perf.txt" >&2
exit 0
