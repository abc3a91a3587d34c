#!/usr/bin/env bash
# Throughput and server CPU per run of one or more `kern` builds, side by side, in one run.
#
#   bench/server_cpu.sh [-n RUNS] [-c CONCURRENCY] [--mode background|stream] [--rounds R]
#                       [--poll-interval MS] [KERN_BINARY ...]
#
# For each round and each binary (alternating, so that a noisy machine weighs on all of them
# alike): starts `BINARY serve --demo` on a fresh SQLite file, runs `kern bench` against it
# (always the first binary's client, so that the load generator is the same), and reads the
# server's user+system CPU from /proc before and after. Prints one line per binary and round:
# runs/s, start p50/p99, first event p50 (stream mode), server CPU per completed run in ms,
# and the server's peak RSS. Defaults: 6000 runs at concurrency 64,
# background, poll every 50 ms, 3 rounds, the release build of this checkout. (At
# concurrency C and poll interval P a background run cannot finish faster than one poll, so
# runs/s stays under C / P: use a short interval, e.g. 10 ms, to measure the server.)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. bench/lib.sh

runs=6000; conc=64; mode=background; rounds=3; poll=50; bins=()
while [ $# -gt 0 ]; do
    case "$1" in
        -n) runs="$2"; shift 2 ;;
        -c) conc="$2"; shift 2 ;;
        --mode) mode="$2"; shift 2 ;;
        --rounds) rounds="$2"; shift 2 ;;
        --poll-interval) poll="$2"; shift 2 ;;
        -*) echo "unknown argument $1" >&2; exit 2 ;;
        *) bins+=("$1"); shift ;;
    esac
done
if [ ${#bins[@]} -eq 0 ]; then
    bins=("$(kern_release)")
fi
client="${bins[0]}"
port="${KERN_BENCH_PORT:-17790}"
work="$(mktemp -d)"
pid=""
trap 'demo_stop; rm -rf "$work"' EXIT

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz="$(getconf CLK_TCK)"

printf '%-40s %5s %9s %8s %8s %9s %10s %8s\n' binary round runs/s start50 start99 first50 cpu_ms/run rss_MB
for round in $(seq 1 "$rounds"); do
    for bin in "${bins[@]}"; do
        demo_start "$bin" "$work/k.db" "$port" "$work/log"
        before="$(ticks "$pid")"
        "$client" bench --url "http://127.0.0.1:$port" --kind workflows --id bench3 -n "$runs" \
            -c "$conc" --mode "$mode" --poll-interval "$poll" --json >"$work/report.json"
        after="$(ticks "$pid")"
        rss="$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")"
        demo_stop
        python3 - "$work/report.json" "$bin" "$round" "$before" "$after" "$hz" "$rss" <<'EOF'
import json, sys
path, bin_, rnd, before, after, hz, rss = sys.argv[1:]
r = json.load(open(path))
done = r.get("completed") or 1
cpu_ms = (int(after) - int(before)) * 1000 / int(hz) / done
lat = r.get("start_latency_ms", {})
first = r.get("first_event_ms") or {}
print(f"{bin_[-40:]:<40} {rnd:>5} {r.get('runs_per_sec', 0):9.0f} {lat.get('p50', 0):8.2f} "
      f"{lat.get('p99', 0):8.2f} {first.get('p50', 0):9.2f} {cpu_ms:10.3f} {int(rss) / 1024:8.1f}")
EOF
    done
done
