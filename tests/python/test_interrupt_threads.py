"""Ctrl-C during a long evaluation, and tracing state that belongs to one thread."""

import os
import signal
import subprocess
import threading
import time

import numpy as np
import pytest

import pullback.core as mx

# A sum over 2**36 broadcast elements takes tens of seconds: long enough that finishing it
# before the interrupt is impossible, while it holds no memory.
HUGE = 2**36


def _send_sigint_after(seconds):
    """SIGINT from another process: Python threads cannot run while eval holds the GIL."""
    return subprocess.Popen(["sh", "-c", f"sleep {seconds}; kill -INT {os.getpid()}"])


def test_ctrl_c_stops_a_long_kernel():
    s = mx.broadcast_to(mx.array(1.0), (HUGE,)).sum()
    killer = _send_sigint_after(0.3)
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        mx.eval(s)
    elapsed = time.monotonic() - start
    killer.wait()
    # Acted on long before the kernel could have finished (about 10 s of work per core).
    assert elapsed < 5.0


def test_signal_handler_exception_reaches_the_caller_and_arrays_stay_usable():
    class Stop(Exception):
        pass

    def handler(signum, frame):
        raise Stop()

    previous = signal.signal(signal.SIGALRM, handler)
    try:
        s = mx.broadcast_to(mx.array(2.0), (2**32,)).sum()
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        with pytest.raises(Stop):
            mx.eval(s)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    # The interrupted graph evaluates again to the right value.
    assert s.item() == 2.0**33


@pytest.mark.parametrize("make", [
    lambda: mx.exp(mx.broadcast_to(mx.array(0.0), (2**31,))),  # a broadcast fill
    lambda: mx.broadcast_to(mx.array([[1.0], [2.0]]), (2, 2**30)).T + 1.0,  # a strided walk
])
def test_ctrl_c_stops_other_long_kernels(make):
    # 8 GB outputs: the interrupt arrives before most of the pages are touched.
    x = make()
    killer = _send_sigint_after(0.3)
    with pytest.raises(KeyboardInterrupt):
        mx.eval(x)
    killer.wait()


def test_eval_in_one_thread_releases_its_graph_while_another_traces():
    inside, release = threading.Event(), threading.Event()

    def traced(x):
        inside.set()
        release.wait(30)
        return (x * x).sum()

    worker = threading.Thread(target=lambda: mx.grad(traced)(mx.array([1.0, 2.0])))
    worker.start()
    try:
        assert inside.wait(30)
        base = mx.get_active_memory()
        x = mx.zeros((256, 1024))  # 1 MB
        for _ in range(300):
            x = x * 1.0 + 1.0
            mx.eval(x)
        grown = mx.get_active_memory() - base
    finally:
        release.set()
        worker.join()
    assert x[0, 0].item() == 300.0
    # Each step's graph is dropped: a few buffers, not 300 steps' worth.
    assert grown < 8 * 2**20


def test_ctrl_c_stops_a_long_matmul():
    a = mx.ones((8192, 8192))
    mx.eval(a)
    c = a @ a  # about 5 s of gemm, run as panels of rows
    killer = _send_sigint_after(0.3)
    with pytest.raises(KeyboardInterrupt):
        mx.eval(c)
    killer.wait()


@pytest.mark.parametrize("transposed", [False, True])
def test_a_long_matmul_in_panels_matches_numpy(transposed):
    # Just over the size from which a gemm runs as panels of rows.
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4100, 2000)).astype(np.float32)
    y = rng.standard_normal((2000, 2100)).astype(np.float32)
    a = mx.array(x.T.copy()).T if transposed else mx.array(x)
    got = np.array(a @ mx.array(y))
    want = x.astype(np.float64) @ y.astype(np.float64)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=2e-3)
