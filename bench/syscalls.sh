#!/usr/bin/env bash
# System calls and context switches of `kern serve --demo` per completed background run, for
# one or more `kern` builds, side by side. Counts hardly depend on how busy the machine is, so
# they compare builds where timings (bench/server_cpu.sh) drown in a shared VM's noise.
#
#   bench/syscalls.sh [-n RUNS] [-c CONCURRENCY] [--poll-interval MS] [KERN_BINARY ...]
#
# For each binary: starts `BINARY serve --demo` on a fresh SQLite file, counts with
# `perf stat` (syscall tracepoints: run as root, or with perf_event_paranoid <= 1) while the
# first binary's `kern bench` runs RUNS background runs at CONCURRENCY, and prints each count
# divided by the runs. Defaults: 4000 runs at concurrency 64, poll every 10 ms, the release
# build of this checkout.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. bench/lib.sh

runs=4000; conc=64; poll=10; bins=()
while [ $# -gt 0 ]; do
    case "$1" in
        -n) runs="$2"; shift 2 ;;
        -c) conc="$2"; shift 2 ;;
        --poll-interval) poll="$2"; shift 2 ;;
        -*) echo "unknown argument $1" >&2; exit 2 ;;
        *) bins+=("$1"); shift ;;
    esac
done
if [ ${#bins[@]} -eq 0 ]; then
    bins=("$(kern_release)")
fi
command -v perf >/dev/null || { echo "syscalls.sh needs perf (linux-perf)" >&2; exit 2; }
client="${bins[0]}"
port="${KERN_BENCH_PORT:-17796}"
work="$(mktemp -d)"
pid=""
trap 'demo_stop; rm -rf "$work"' EXIT

events="context-switches,task-clock"
for call in fsync fdatasync pwrite64 pread64 futex write writev read recvfrom epoll_wait; do
    events="$events,syscalls:sys_enter_$call"
done

for bin in "${bins[@]}"; do
    demo_start "$bin" "$work/k.db" "$port" "$work/log"
    perf stat -e "$events" -p "$pid" -o "$work/stat" &
    stat=$!
    sleep 0.5 # perf attaches
    "$client" bench --url "http://127.0.0.1:$port" --kind workflows --id bench3 -n "$runs" \
        -c "$conc" --poll-interval "$poll" --json >"$work/report.json"
    kill -INT "$stat"; wait "$stat" 2>/dev/null || true
    demo_stop
    echo "== $bin"
    python3 - "$work/report.json" "$work/stat" "$runs" <<'EOF'
import json, re, sys
report, stat, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
r = json.load(open(report))
print(f"  {r.get('completed', 0)} runs completed, {r.get('runs_per_sec', 0):.0f} runs/s")
for line in open(stat):
    m = re.match(r"\s*([\d.,]+)\s+(?:msec\s+)?(\S+)", line)
    if not m or not re.search(r"syscalls:|context-switches|task-clock", line):
        continue
    value = float(m.group(1).replace(",", ""))
    name = m.group(2).replace("syscalls:sys_enter_", "")
    unit = " ms CPU" if name == "task-clock" else ""
    print(f"  {name:<18} {value / runs:8.3f}{unit} per run")
EOF
done
