"""Many Python threads compressing and decompressing at once, on different and
shared inputs, with the C pool in use (threads=2) or not (threads=1): every
result must equal the one computed alone."""

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import enec
from testdata import assert_bitexact, make

BLOCK = enec.BLOCK


@pytest.fixture(scope="module")
def inputs():
    arrays = {
        "bf16": make("bfloat16", "gauss", (5 * BLOCK + 77,)),
        "fp16": make("float16", "mixed", (3, BLOCK + 5)),
        "fp32": make("float32", "gauss", (4 * BLOCK,)),
        "bf16-wide": make("bfloat16", "wide", (2 * BLOCK,)),
        "int32": np.arange(50_000, dtype=np.int32),
        "tiny": make("bfloat16", "gauss", (33,)),
    }
    # references computed one at a time, single-threaded
    return {k: (a, enec.compress(a, threads=1)) for k, a in arrays.items()}


def _work(task, inputs):
    kind, key, threads, seed = task
    a, ref = inputs[key]
    if kind == "compress-shared":  # every thread reads the same array
        assert enec.compress(a, threads=threads) == ref
    elif kind == "compress-own":  # a private copy, so buffers differ
        own = a.copy()
        assert enec.compress(own, threads=threads) == ref
    elif kind == "decompress-shared":  # every thread reads the same stream
        assert_bitexact(enec.decompress(ref, threads=threads), a)
    elif kind == "decompress-out":
        out = np.empty_like(a)
        res = enec.decompress(bytearray(ref), out=out, threads=threads)
        assert res is out
        assert_bitexact(out, a)
    elif kind == "corrupt":  # a damaged copy must fail in every thread, whatever else runs
        bad = bytearray(ref)
        pos = len(ref) - 1 - seed % min(len(ref) // 2, 5000)
        bad[pos] ^= 1 << (seed % 8)
        try:
            out = enec.decompress(bytes(bad), threads=threads)
        except enec.CorruptDataError:
            return "raised"
        assert_bitexact(out, a)
    return "ok"


def _tasks(n, rng, keys):
    kinds = ["compress-shared", "compress-own", "decompress-shared", "decompress-out", "corrupt"]
    return [(kinds[i % len(kinds)], keys[int(rng.integers(len(keys)))], int(rng.integers(1, 3)), i)
            for i in range(n)]


@pytest.mark.parametrize("workers", [8, 16])
def test_many_python_threads(inputs, workers):
    rng = np.random.default_rng(workers)
    tasks = _tasks(240, rng, sorted(inputs))
    with ThreadPoolExecutor(max_workers=workers) as ex:
        results = list(ex.map(lambda t: _work(t, inputs), tasks))
    assert results.count("ok") + results.count("raised") == len(tasks)
    assert results.count("raised") >= 30  # most single flips near the end are caught


def test_threads_start_together(inputs):
    """A barrier lines the threads up so the C pool is contended: one caller
    gets it, the others start their own threads (threads.c fork_join)."""
    n = 12
    barrier = threading.Barrier(n)
    errors = []
    a, ref = inputs["bf16"]

    def run(i):
        try:
            barrier.wait()
            for _ in range(5):
                t = 2 + i % 3
                assert enec.compress(a, threads=t) == ref
                assert_bitexact(enec.decompress(ref, threads=t), a)
        except BaseException as e:  # reported below; a thread's exception is otherwise lost
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]


def test_gil_released_during_coding():
    """While one thread is inside a long C call, another thread keeps running:
    with the GIL held it could not tick at all until the call returned."""
    a = make("bfloat16", "gauss", (1024 * BLOCK,))  # 32 MiB: tens of milliseconds per call
    s = enec.compress(a)
    ticks = []
    stop = threading.Event()
    started = threading.Event()

    def ticker():
        started.set()
        while not stop.is_set():
            ticks.append(1)
            stop.wait(0.0002)

    t = threading.Thread(target=ticker)
    t.start()
    started.wait()
    during = []
    try:
        for call in (lambda: enec.decompress(s, threads=1), lambda: enec.compress(a, threads=1)):
            n0 = len(ticks)
            call()
            during.append(len(ticks) - n0)
    finally:
        stop.set()
        t.join()
    assert min(during) >= 5, during
