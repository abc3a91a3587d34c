#!/usr/bin/env bash
# Soak: sustained streaming load on `kern serve --demo` over SQLite, watching what grows.
#
#   bench/soak.sh [--minutes M] [-c CONCURRENCY] [--every SECS] [--idle SECS] [--kern PATH]
#
# Starts `kern serve --demo` (release build) on a fresh SQLite file and runs
#   kern bench --id count --message "10 100" -c 300 --mode stream --duration M*60
# against it (about 300 runs/s and 4,800 events/s here, with a streaming reader per run),
# then lets the server sit idle for --idle seconds. Every --every seconds it prints one row:
# time, the WAL's size, the database's size, the server's RSS, and the bench's runs/s and
# events/s over the last interval. At the end: the WAL's peak and idle size, RSS at the start
# and the end of the load, and the bench's report. A benchmark, not a test: it asserts
# nothing; read the figures. Defaults: 10 minutes at concurrency 300, a row every 10 s, 20 s
# idle. --kern runs another build of `kern` (e.g. an older commit's, for a before/after).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

minutes=10; conc=300; every=10; idle=20; kern=""
while [ $# -gt 0 ]; do
    case "$1" in
        --minutes) minutes="$2"; shift 2 ;;
        -c) conc="$2"; shift 2 ;;
        --every) every="$2"; shift 2 ;;
        --idle) idle="$2"; shift 2 ;;
        --kern) kern="$2"; shift 2 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
if [ -z "$kern" ]; then
    cargo build --release -q -p kern-cli
    kern="${CARGO_TARGET_DIR:-target}/release/kern"
fi
bench="${CARGO_TARGET_DIR:-target}/release/kern"
[ -x "$bench" ] || cargo build --release -q -p kern-cli
port="${KERN_SOAK_PORT:-17779}"

work="$(mktemp -d)"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

db="$work/soak.db"
"$kern" --db "$db" serve --demo --port "$port" 2>"$work/serve.log" &
server=$!
pids+=("$server")
for _ in $(seq 1 120); do
    curl -fsS -o /dev/null "http://127.0.0.1:$port/health" 2>/dev/null && break
    sleep 0.5
done

size() { stat -c %s "$1" 2>/dev/null || echo 0; }
mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$server/status" 2>/dev/null || echo 0; }

"$bench" bench --url "http://127.0.0.1:$port" --id count --message "10 100" \
    -n 100000000 -c "$conc" --mode stream --duration $((minutes * 60)) --progress "$every" \
    --label soak >"$work/bench.out" 2>"$work/bench.err" &
load=$!
pids+=("$load")

printf '%6s %10s %10s %9s %9s %10s\n' "t(s)" "wal(MB)" "db(MB)" "rss(MB)" "runs/s" "events/s"
start=$(date +%s)
peak=0; rss_first=""; rss_load_end=0
row() {
    local now wal dbs rss line runs events
    now=$(( $(date +%s) - start ))
    wal=$(size "$db-wal"); dbs=$(size "$db"); rss=$(rss_kb)
    [ "$wal" -gt "$peak" ] && peak=$wal
    [ -z "$rss_first" ] && rss_first=$rss
    line=$(grep '^progress' "$work/bench.err" | tail -n 1 || true)
    runs=$(sed -n 's/.*runs\/s=\([0-9.]*\).*/\1/p' <<<"$line")
    events=$(sed -n 's/.*events\/s=\([0-9.]*\).*/\1/p' <<<"$line")
    printf '%6s %10s %10s %9s %9s %10s\n' "$now" "$(mb "$wal")" "$(mb "$dbs")" \
        "$(mb $((rss * 1024)))" "${runs:--}" "${events:--}"
    last_rss=$rss
}
while kill -0 "$load" 2>/dev/null; do
    sleep "$every"
    row
done
rss_load_end=$last_rss
wait "$load" || true
echo "load over; idle for ${idle}s"
idle_end=$(( $(date +%s) + idle ))
while [ "$(date +%s)" -lt "$idle_end" ]; do
    sleep "$every"
    row
done
echo
echo "WAL peak: $(mb "$peak") MB; WAL idle: $(mb "$(size "$db-wal")") MB; database: $(mb "$(size "$db")") MB"
echo "RSS: $(mb $((rss_first * 1024))) MB at the first sample, $(mb $((rss_load_end * 1024))) MB at the end of the load"
cat "$work/bench.out"
