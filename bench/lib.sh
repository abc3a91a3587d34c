# Shared by the bench scripts (sourced): the `kern` build to measure, and `kern serve --demo`
# on a fresh SQLite file.

# Prints the path of this checkout's release build of `kern`, building it first.
kern_release() {
    cargo build --release -q -p kern-cli
    echo "${CARGO_TARGET_DIR:-target}/release/kern"
}

# demo_start BINARY DB PORT LOG: starts `BINARY serve --demo` on DB (its files removed first),
# sets $pid, and waits up to 10 s for /health.
demo_start() {
    rm -f "$2"*
    "$1" --db "$2" serve --demo --port "$3" 2>"$4" &
    pid=$!
    for _ in $(seq 1 100); do
        curl -fsS -o /dev/null "http://127.0.0.1:$3/health" 2>/dev/null && return 0
        sleep 0.1
    done
}

# Stops the server demo_start started, if it runs (continuing it first if it was stopped).
demo_stop() {
    if [ -n "${pid:-}" ]; then
        kill -CONT "$pid" 2>/dev/null || true
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        pid=""
    fi
}
