"""The mpi4py.futures anchors of the MPI workloads (MPI1, MPI2) of `cargo xtask bench`.

Launched by the harness as
    mpirun -n 3 PYTHON -m mpi4py.futures mpi4py_anchors.py round-trip OPS
    mpirun -n 3 PYTHON -m mpi4py.futures mpi4py_anchors.py throughput TASKS CHUNKSIZE
    mpirun -n 3 --enable-recovery PYTHON -m mpi4py.futures mpi4py_anchors.py death TASKS LIMIT
so rank 0 runs this script with an MPIPoolExecutor on the 2 other ranks (mpi4py's
pre-launched mode, like ours). It times its own loops after a warm-up, so mpirun's start-up
never enters a figure, and prints one line per metric in the format of
`executor_bench::mpi::Report`: `bench-mpi METRIC ops=N seconds=S`.

The task is the builtin `abs` on a small int: a tiny call whose pickle is a name, like our
registered `echo`.
"""

import os
import sys
import time
from concurrent.futures import wait

from mpi4py.futures import MPIPoolExecutor


def report(metric, ops, seconds):
    print(f"bench-mpi {metric} ops={ops} seconds={seconds!r}", flush=True)


def round_trip(executor, ops):
    for i in range(20):
        assert executor.submit(abs, i).result() == i
    started = time.perf_counter()
    for i in range(ops):
        executor.submit(abs, i).result()
    report("round-trip", ops, time.perf_counter() - started)


def submit_all(executor, count):
    started = time.perf_counter()
    futures = [executor.submit(abs, i) for i in range(count)]
    wait(futures)
    seconds = time.perf_counter() - started
    assert [future.result() for future in futures] == list(range(count))
    return seconds


def map_all(executor, count, chunksize):
    started = time.perf_counter()
    results = list(executor.map(abs, range(count), chunksize=chunksize))
    seconds = time.perf_counter() - started
    assert results == list(range(count))
    return seconds


def throughput(executor, tasks, chunksize):
    warm_up = min(max(tasks // 10, 1), 1000)
    submit_all(executor, warm_up)
    map_all(executor, warm_up, chunksize)
    submitted = submit_all(executor, tasks)
    mapped = map_all(executor, tasks, chunksize)
    report("submit-wait", tasks, submitted)
    report("map", tasks, mapped)


def death(executor, tasks, limit):
    # A worker aborts (os.abort pickles by name, like abs) with `tasks` queued behind it: the
    # time until every future is done, or a line saying they were not, `limit` seconds later.
    for i in range(20):
        assert executor.submit(abs, i).result() == i
    started = time.perf_counter()
    fatal = executor.submit(os.abort)
    futures = [executor.submit(abs, i) for i in range(tasks)]
    _, not_done = wait([fatal] + futures, timeout=limit)
    seconds = time.perf_counter() - started
    if not_done:
        # The figure is then the limit, a lower bound: say so on the side.
        print(
            f"mpi4py.futures: {len(not_done)} of {tasks + 1} futures were still not done "
            f"{limit} s after a worker died",
            file=sys.stderr,
            flush=True,
        )
    report("death", 1, seconds)
    if not_done:
        # Shutting the executor down would wait for the dead worker forever.
        os._exit(0)


def main(args):
    with MPIPoolExecutor() as executor:
        if args[:1] == ["round-trip"] and len(args) == 2:
            round_trip(executor, int(args[1]))
        elif args[:1] == ["throughput"] and len(args) == 3:
            throughput(executor, int(args[1]), int(args[2]))
        elif args[:1] == ["death"] and len(args) == 3:
            death(executor, int(args[1]), float(args[2]))
        else:
            sys.exit(
                "usage: mpi4py_anchors.py round-trip OPS | throughput TASKS CHUNKSIZE | "
                f"death TASKS LIMIT (got {args})"
            )


if __name__ == "__main__":
    main(sys.argv[1:])
