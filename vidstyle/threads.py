"""Thread helpers of the data path: work moved off the calling thread, results kept in order.

* :func:`on_thread`: one worker thread a few items ahead (the flow planner beside the decoder);
* :func:`on_threads`: several workers side by side (the keyframes of ``--temporal reuse``);
* :func:`shared_threads`: torch's CPU thread policy while two threads run the network at once.
"""

from __future__ import annotations

import collections
import contextlib
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

import torch

__all__ = ["on_thread", "on_threads", "shared_threads"]

_END = object()


def on_thread(items: Iterable, fn: Callable, *, name: str, depth: int = 2) -> Iterator:
    """``fn(item)`` for each of ``items``, computed on a thread of its own, yielded in order.

    The thread runs up to ``depth`` items ahead. Errors raised while iterating ``items`` or in
    ``fn`` come out of the iteration; closing the iterator early stops the thread (and closes
    ``items``).
    """
    out: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not put(fn(item)):
                    return
            put(_END)
        except BaseException as ex:  # handed to the consumer, raised there
            put(ex)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=work, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item = out.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


def on_threads(items: Iterable, fn: Callable, *, name: str, depth: int = 2, workers: int = 1) -> Iterator:
    """:func:`on_thread` with ``workers`` threads computing ``fn`` side by side; yielded in order.

    Up to ``workers + depth`` items are taken from ``items`` ahead of the consumer (on the
    consumer's thread, so ``items`` should be quick to iterate, e.g. :func:`on_thread` itself).
    """
    if workers <= 1:
        yield from on_thread(items, fn, name=name, depth=depth)
        return
    pool = ThreadPoolExecutor(workers, thread_name_prefix=name)
    pending: collections.deque = collections.deque()
    source = iter(items)
    try:
        exhausted = False
        while True:
            while not exhausted and len(pending) < workers + depth:
                try:
                    pending.append(pool.submit(fn, next(source)))
                except StopIteration:
                    exhausted = True
            if not pending:
                return
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True)
        close = getattr(items, "close", None)
        if close is not None:
            close()


@contextlib.contextmanager
def shared_threads(device: torch.device) -> Iterator[None]:
    """Halve torch's CPU threads while two threads run the network, then restore them.

    In ``reuse`` mode the keyframe thread and the calling thread both run torch at once; each
    would otherwise start a full team of threads, and on a machine with as many threads as cores
    the teams would wait on each other (measured: slower than one network thread).
    """
    threads = torch.get_num_threads()
    if device.type != "cpu" or threads < 2:
        yield
        return
    torch.set_num_threads(threads // 2)
    try:
        yield
    finally:
        torch.set_num_threads(threads)

