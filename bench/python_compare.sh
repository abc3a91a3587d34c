#!/usr/bin/env bash
# kern vs agno from Python, side by side: the reference's polling program (bench/python_polling.py:
# a 3-step workflow of async Python function steps on SQLite, N runs started with
# `await workflow.arun(..., background=True)` and polled with `get_run` until
# `has_completed()`), once with each package, in the same virtualenv, one after the other.
#
#   bench/python_compare.sh [-n RUNS] [--steps STEPS]
#
# Uses scripts/py-venv (Agno and kern, kern installed from this checkout in release mode).
# Prints both reports and the ratios. Defaults: 1000 runs, 3 steps.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

runs=1000; steps=3
while [ $# -gt 0 ]; do
    case "$1" in
        -n) runs="$2"; shift 2 ;;
        --steps) steps="$2"; shift 2 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
py="$(scripts/py-venv)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
for impl in kern agno; do
    "$py" "$OLDPWD/bench/python_polling.py" --impl "$impl" -n "$runs" --steps "$steps" --json >"$impl.json"
done
"$py" - <<'PY'
import json

def line(r):
    return (
        "[{impl}] {completed}/{runs} completed ({failed} failed) in {wall_secs} s: {runs_per_sec} runs/s; "
        "start p50 {s[p50]} ms p99 {s[p99]} ms max {s[max]} ms; peak RSS {peak_rss_mb} MB; "
        "one step p50 {t[p50]} ms p99 {t[p99]} ms"
    ).format(s=r["start_ms"], t=r["step_ms"], **r)

k, a = json.load(open("kern.json")), json.load(open("agno.json"))
print(line(k))
print(line(a))
print(
    "kern/agno: runs/s {:.0f}x; start p50 {:.0f}x faster, p99 {:.0f}x faster; peak RSS {} vs {} MB".format(
        k["runs_per_sec"] / a["runs_per_sec"],
        a["start_ms"]["p50"] / k["start_ms"]["p50"],
        a["start_ms"]["p99"] / k["start_ms"]["p99"],
        k["peak_rss_mb"],
        a["peak_rss_mb"],
    )
)
PY
