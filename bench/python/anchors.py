#!/usr/bin/env python3
"""CPython `concurrent.futures` anchors for `cargo xtask bench`.

The Rust harness (bench/src/python.rs) starts this script once per workload with `--serve`
and sends one JSON request per line on stdin; each answer is one JSON line on stdout:
`{"values": [<seconds or bytes>, ...]}` (one figure per metric; P4 has two) or
`{"error": "..."}`. Keeping one warm interpreter lets the
harness interleave CPython with the Rust contenders (A, B, A, B, ...) without paying the
interpreter start-up in every measurement, as the Rust contenders do not pay theirs.

`--once '<json>'` answers one request and exits: the memory figures use it, so every
measurement reads the peak RSS (VmHWM) of a fresh process.

Every workload mirrors the Rust one of the same name (bench/src/*.rs): the pool is created and
its workers started before the clock starts, and shut down after it stops, except in P4, whose
figure is exactly that start-up and shut-down.
"""

import concurrent.futures as cf
import json
import multiprocessing as mp
import os
import platform
import sys
import threading
import time

now = time.perf_counter


# ---- task functions (module level, so the `spawn` start method can import them) ------------


def noop():
    return None


def identity(x):
    return x


def length(payload):
    return len(payload)


def sleep_briefly(seconds):
    time.sleep(seconds)


def wait_on(event):
    event.wait()


# ---- helpers --------------------------------------------------------------------------------


def process_pool(workers, start_method):
    return cf.ProcessPoolExecutor(workers, mp_context=mp.get_context(start_method))


def start_workers(executor, workers):
    """Runs one short task per worker at once, so every worker exists before the clock starts."""
    cf.wait([executor.submit(sleep_briefly, 0.02) for _ in range(workers)])


def peak_rss_bytes():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


# ---- workloads: each returns seconds (bytes for the memory one; a list where several) ------


def t1(size, workers, **_):
    """T1: submit `size` no-op tasks, then wait for all."""
    with cf.ThreadPoolExecutor(workers) as executor:
        start_workers(executor, workers)
        started = now()
        futures = [executor.submit(noop) for _ in range(size)]
        cf.wait(futures)
        return now() - started


def t2(size, workers, **_):
    """T2: submit one no-op and wait for its result, `size` times."""
    with cf.ThreadPoolExecutor(workers) as executor:
        start_workers(executor, workers)
        started = now()
        for _ in range(size):
            executor.submit(noop).result()
        return now() - started


def t3(size, workers, **_):
    """T3: `map` a trivial function over `size` integers."""
    with cf.ThreadPoolExecutor(workers) as executor:
        start_workers(executor, workers)
        started = now()
        for _ in executor.map(identity, range(size)):
            pass
        return now() - started


def p1(size, workers, start_method, **_):
    """P1: submit `size` no-op tasks to a process pool, then wait for all."""
    with process_pool(workers, start_method) as executor:
        start_workers(executor, workers)
        started = now()
        futures = [executor.submit(noop) for _ in range(size)]
        cf.wait(futures)
        return now() - started


def p2(size, workers, start_method, **_):
    """P2: sequential submit + result, `size` times."""
    with process_pool(workers, start_method) as executor:
        start_workers(executor, workers)
        started = now()
        for _ in range(size):
            executor.submit(noop).result()
        return now() - started


def p3(size, workers, start_method, chunksize, **_):
    """P3: `map` over `size` integers with `chunksize`."""
    with process_pool(workers, start_method) as executor:
        start_workers(executor, workers)
        started = now()
        for _ in executor.map(identity, range(size), chunksize=chunksize):
            pass
        return now() - started


def p4(workers, start_method, **_):
    """P4: construct a pool and run one no-op. Two figures: the time to the first result, and
    the time until shutdown(wait=True) has returned."""
    started = now()
    executor = process_pool(workers, start_method)
    executor.submit(noop).result()
    first = now() - started
    executor.shutdown(wait=True)
    return [first, now() - started]


def p5(size, workers, start_method, payload_bytes, **_):
    """P5: `size` tasks, each taking a `payload_bytes` byte string and returning its length."""
    payload = os.urandom(payload_bytes)
    with process_pool(workers, start_method) as executor:
        start_workers(executor, workers)
        started = now()
        futures = [executor.submit(length, payload) for _ in range(size)]
        total = sum(future.result() for future in futures)
        elapsed = now() - started
        assert total == size * payload_bytes
        return elapsed


def m1(size, workers, **_):
    """M1: peak RSS growth, in bytes per future, while `size` no-op futures wait in the queue
    of a thread pool whose workers are all blocked. Run with --once (a fresh process)."""
    release = threading.Event()
    executor = cf.ThreadPoolExecutor(workers)
    blockers = [executor.submit(wait_on, release) for _ in range(workers)]
    before = peak_rss_bytes()
    futures = [executor.submit(noop) for _ in range(size)]
    after = peak_rss_bytes()
    release.set()
    cf.wait(blockers)
    executor.shutdown(wait=True, cancel_futures=True)
    del futures
    return (after - before) / size


WORKLOADS = {
    "t1": t1,
    "t2": t2,
    "t3": t3,
    "p1": p1,
    "p2": p2,
    "p3": p3,
    "p4": p4,
    "p5": p5,
    "m1": m1,
}


def answer(request):
    if request.get("workload") == "version":
        return {"values": [], "version": platform.python_version()}
    workload = WORKLOADS.get(request.get("workload"))
    if workload is None:
        return {"error": f"unknown workload {request.get('workload')!r}"}
    try:
        value = workload(**request)
        return {"values": value if isinstance(value, list) else [value]}
    except Exception as error:  # reported to the harness, which shows it in the table
        return {"error": f"{type(error).__name__}: {error}"}


def serve():
    for line in sys.stdin:
        if not line.strip():
            continue
        reply = answer(json.loads(line))
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        serve()
    elif len(sys.argv) == 3 and sys.argv[1] == "--once":
        print(json.dumps(answer(json.loads(sys.argv[2]))))
    else:
        sys.exit(f"usage: {sys.argv[0]} --serve | --once '<json request>'")
