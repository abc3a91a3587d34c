#!/usr/bin/env bash
# Kern vs the Python reference (Agno's AgentOS), same workload, same load generator.
#
#   bench/compare.sh [-n RUNS] [-c CONCURRENCY] [--mode background|stream] [--poll-interval MS]
#
# Starts `kern serve --demo` (SQLite, release build) and bench/agno_reference.py (Agno on
# SQLite, in the scripts/agno-venv virtualenv) on two loopback ports, runs `kern bench`
# against each with the same settings on the same 3-step function workflow (`bench3`), and
# prints both reports side by side with Kern/Agno ratios. Defaults: 2000 runs at concurrency
# 32, background. Everything stays on 127.0.0.1 and stops at the end.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

runs=2000; conc=32; mode=background; poll=50
while [ $# -gt 0 ]; do
    case "$1" in
        -n) runs="$2"; shift 2 ;;
        -c) conc="$2"; shift 2 ;;
        --mode) mode="$2"; shift 2 ;;
        --poll-interval) poll="$2"; shift 2 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
kern_port="${KERN_BENCH_KERN_PORT:-17777}"
agno_port="${KERN_BENCH_AGNO_PORT:-17778}"

cargo build --release -q -p kern-cli
target="${CARGO_TARGET_DIR:-target}"
kern="$target/release/kern"
py="$(scripts/agno-venv)"

work="$(mktemp -d)"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

wait_health() {
    for _ in $(seq 1 120); do
        if curl -fsS -o /dev/null "http://127.0.0.1:$1/health" 2>/dev/null; then return 0; fi
        sleep 0.5
    done
    echo "server on port $1 did not come up" >&2; exit 1
}

"$kern" --db "$work/kern.db" serve --demo --port "$kern_port" 2>"$work/kern.log" &
pids+=($!)
AGNO_TELEMETRY=false "$py" bench/agno_reference.py --port "$agno_port" --db "$work/agno.db" >"$work/agno.log" 2>&1 &
pids+=($!)
wait_health "$kern_port"
wait_health "$agno_port"

bench() { # label port
    "$kern" bench --url "http://127.0.0.1:$2" --kind workflows --id bench3 -n "$runs" -c "$conc" \
        --mode "$mode" --poll-interval "$poll" --label "$1" --json
}
echo "kern bench -n $runs -c $conc --mode $mode --poll-interval $poll, workflow bench3 (3 function steps), SQLite on both" >&2
bench kern "$kern_port" > "$work/kern.json"
bench agno "$agno_port" > "$work/agno.json"

python3 - "$work/kern.json" "$work/agno.json" <<'PY'
import json, sys
k = json.load(open(sys.argv[1])); a = json.load(open(sys.argv[2]))
def get(r, path):
    for p in path.split("."):
        r = r.get(p) if isinstance(r, dict) else None
    return r
rows = [
    ("completed", "completed", "higher"), ("failed", "failed", "lower"),
    ("wall s", "wall_secs", "lower"), ("runs/s", "runs_per_sec", "higher"),
    ("events/s", "events_per_sec", "higher"),
    ("start p50 ms", "start_latency_ms.p50", "lower"), ("start p99 ms", "start_latency_ms.p99", "lower"),
    ("start max ms", "start_latency_ms.max", "lower"),
    ("e2e p50 ms", "end_to_end_ms.p50", "lower"), ("e2e p99 ms", "end_to_end_ms.p99", "lower"),
    ("e2e max ms", "end_to_end_ms.max", "lower"),
]
print(f"{'':14} {'kern':>12} {'agno':>12} {'kern/agno':>10}")
for name, path, _ in rows:
    kv, av = get(k, path), get(a, path)
    if kv is None and av is None:
        continue
    ratio = f"{kv / av:.2f}x" if isinstance(kv, (int, float)) and isinstance(av, (int, float)) and av else "-"
    print(f"{name:14} {str(kv):>12} {str(av):>12} {ratio:>10}")
for label, r in (("kern", k), ("agno", a)):
    if r.get("failures"):
        print(f"{label} failures: {r['failures']}")
PY
