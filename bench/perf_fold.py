"""Folds `perf script` output (call graphs) into shares of samples.

    python3 bench/perf_fold.py PERF_TXT summary              threads, then top functions
    python3 bench/perf_fold.py PERF_TXT thread NAME [N]      one thread's top N functions
    python3 bench/perf_fold.py PERF_TXT callers FUNC [DEPTH] who calls FUNC (DEPTH frames up)
    python3 bench/perf_fold.py PERF_TXT callees FUNC [DEPTH] what FUNC spends its share on

Shares are of all samples in the file. A function's *self* share counts the samples where it
is the innermost frame; its *inclusive* share every sample it is on the stack of (once per
sample, however deep the recursion). Names are shortened: hashes, offsets and generic
arguments are dropped, so `Foo<T>::bar` and `Foo<U>::bar` count together. FUNC matches by
substring of the shortened name. Used by bench/profile.sh.
"""

import collections
import re
import sys


def samples(path):
    """Yields (thread name, frames innermost first) for each sample."""
    thread, frames = None, []
    with open(path, errors="replace") as f:
        for line in f:
            if not line.strip():
                if thread is not None:
                    yield thread, frames
                thread, frames = None, []
            elif not line[0].isspace():
                thread, frames = line.split()[0], []
            else:
                parts = line.strip().split(None, 1)
                if len(parts) == 2:
                    frames.append(short(parts[1]))
    if thread is not None:
        yield thread, frames


def short(sym):
    sym = re.sub(r"\+0x[0-9a-f]+", " ", sym).split(" (")[0].strip()
    sym = re.sub(r"::h[0-9a-f]{16}$", "", sym)
    for _ in range(3):
        sym = re.sub(r"<[^<>]*>", "<>", sym)
    return sym[:120]


# Frames that say how a thread runs or a future was polled, not what it did.
PLUMBING = (
    "{{closure}}",
    "{closure#",
    "{async",
    "call_once",
    "poll<",
    "Instrumented",
    "budget",
    "catch_unwind",
    "Harness",
    "Core<",
    "with_mut",
    "enter_runtime",
    "do_call",
    "try_with",
    "LocalKey",
    "FnOnce",
    "__rust_begin_short_backtrace",
    "thread_start",
    "start_thread",
    "clone3",
    "tokio::runtime::",
    "run_task",
    "run<",
    "run_worker",
    "BlockingTask",
    "block_on",
    "with<",
    "set_scheduler",
    "Scoped<",
    "poll_future",
    "poll_inner",
    "[unknown]",
    "PollFn",
    "sql<",
    "{async_fn",
)


def share(n, total):
    return f"{100 * n / total:6.1f}%"


def top(data, total, n, title):
    own = collections.Counter(f[0] if f else "?" for _, f in data)
    incl = collections.Counter()
    for _, f in data:
        incl.update(set(f))
    print(f"--- {title}: self")
    for name, c in own.most_common(n // 2):
        print(share(c, total), name)
    print(f"--- {title}: inclusive (polling plumbing left out)")
    shown = 0
    for name, c in incl.most_common():
        if any(p in name for p in PLUMBING):
            continue
        print(share(c, total), name)
        shown += 1
        if shown == n:
            break


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    path, mode, rest = argv[1], argv[2], argv[3:]
    data = list(samples(path))
    total = len(data) or 1
    print(f"{len(data)} samples")
    if mode == "summary":
        threads = collections.Counter(t for t, _ in data)
        for t, c in threads.most_common(10):
            print(share(c, total), "thread", t)
        top(data, total, 40, "all threads")
        for t, _ in threads.most_common(2):
            top([s for s in data if s[0] == t], total, 30, f"thread {t}")
    elif mode == "thread":
        n = int(rest[1]) if len(rest) > 1 else 40
        top([s for s in data if s[0].startswith(rest[0])], total, n, f"thread {rest[0]}")
    elif mode in ("callers", "callees"):
        target, depth = rest[0], int(rest[1]) if len(rest) > 1 else 4
        paths = collections.Counter()
        for _, frames in data:
            hits = [i for i, name in enumerate(frames) if target in name]
            if not hits:
                continue
            if mode == "callers":
                i = hits[0]
                paths[" <- ".join(frames[i : i + 1 + depth])] += 1
            else:
                i = hits[-1]
                below = [f for f in reversed(frames[:i]) if not any(p in f for p in PLUMBING)]
                paths[" > ".join(below[:depth]) or "(self)"] += 1
        print(f"{share(sum(paths.values()), total)} with {target} on the stack")
        for p, c in paths.most_common(30):
            print(share(c, total), p)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    try:
        main(sys.argv)
    except BrokenPipeError:  # piped into head
        sys.stderr.close()
