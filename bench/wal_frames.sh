#!/usr/bin/env bash
# What the SQLite WAL holds per commit and per run, by b-tree: which table or index each page
# written to the WAL belongs to. Every page a commit dirties is written again whole (4 KiB), so
# this says where a run's write bytes go (and what an index, a schema change or batching
# costs), independently of timing.
#
#   bench/wal_frames.sh [-n RUNS] [-c CONCURRENCY] [KERN_BINARY]
#
# Starts `BINARY serve --demo` on a fresh SQLite file, runs RUNS background runs (default
# 1200 at concurrency 64, few enough that the checkpointer never rewinds the WAL: it restarts
# it past 64 MB), stops the server with SIGSTOP the moment the load ends, copies the database
# and its WAL, and reads every frame of the WAL. Prints frames per commit and per run, then
# frames per run by b-tree (pages are named with SQLite's dbstat view).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. bench/lib.sh

runs=1200; conc=64; bin=""
while [ $# -gt 0 ]; do
    case "$1" in
        -n) runs="$2"; shift 2 ;;
        -c) conc="$2"; shift 2 ;;
        -*) echo "unknown argument $1" >&2; exit 2 ;;
        *) bin="$1"; shift ;;
    esac
done
if [ -z "$bin" ]; then
    bin="$(kern_release)"
fi
port="${KERN_BENCH_PORT:-17797}"
work="$(mktemp -d)"
pid=""
trap 'demo_stop; rm -rf "$work"' EXIT

demo_start "$bin" "$work/k.db" "$port" "$work/log"
"$bin" bench --url "http://127.0.0.1:$port" --kind workflows --id bench3 -n "$runs" -c "$conc" \
    --poll-interval 10 | sed -n 2p
kill -STOP "$pid"
mkdir "$work/snap"
cp "$work/k.db" "$work/k.db-wal" "$work/snap/"
kill -CONT "$pid"

python3 - "$work/snap/k.db" "$work/snap/k.db-wal" <<'EOF'
import collections, sqlite3, struct, sys
db, wal = sys.argv[1], sys.argv[2]
data = open(wal, "rb").read()
page = struct.unpack(">I", data[8:12])[0]
salt = data[16:24]
commits, current, off = [], [], 32
while off + 24 + page <= len(data) and data[off + 8:off + 16] == salt:
    number, size_after = struct.unpack(">II", data[off:off + 8])
    current.append(number)
    if size_after:  # a commit's last frame records the database size
        commits.append(current)
        current = []
    off += 24 + page
# Reading the copy opens its WAL too, so pages first written there have their b-tree.
conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
owner = dict((p, name) for name, p in conn.execute("SELECT name, pageno FROM dbstat"))
runs = conn.execute("SELECT count(*) FROM kern_runs").fetchone()[0]
by_tree = collections.Counter(owner.get(p, "?") for c in commits for p in c)
frames = sum(by_tree.values())
print(f"{runs} runs, {len(commits)} commits: {frames / max(len(commits), 1):.1f} frames per "
      f"commit, {frames / max(runs, 1):.2f} per run ({frames * page / max(runs, 1) / 1024:.1f} KiB)")
for name, n in by_tree.most_common():
    print(f"  {name:<40} {n / max(runs, 1):6.2f} frames per run")
EOF
