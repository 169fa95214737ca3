"""Training batches made ahead by worker processes.

Every sampler here makes batch ``i`` from its seed and ``i`` alone, so batches can be made in any
process and in any order: :func:`prefetched` hands the indices to a torch DataLoader's workers
and yields the batches in order, the same data a single process would have made. On the CPU
machines the training step and the data share two cores (``workers=0``); on a GPU machine the
data is the bottleneck and a dozen workers keep the accelerator fed. A style's training makes
its next batch on a thread instead (:class:`ThreadPrefetcher`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import torch

__all__ = ["ThreadPrefetcher", "prefetched"]

T = TypeVar("T")


class _Indexed(torch.utils.data.Dataset):
    def __init__(self, make: Callable[[int], T], first: int, end: int) -> None:
        self.make, self.first, self.end = make, first, end

    def __len__(self) -> int:
        return max(self.end - self.first, 0)

    def __getitem__(self, i: int) -> T:
        return self.make(self.first + i)


def prefetched(make: Callable[[int], T], first: int, end: int, *, workers: int = 0,
               ahead: int = 8) -> Iterator[T]:
    """``make(first), make(first + 1), ..., make(end - 1)``.

    Args:
        make: batch index -> batch; a picklable callable (a bound method of a sampler) when
            ``workers`` > 0.
        workers: processes making batches; 0 makes them here, when asked for.
        ahead: batches each worker makes in advance.
    """
    if workers < 0:
        raise ValueError(f"workers must be 0 or more, got {workers}")
    if workers == 0:
        return (make(i) for i in range(first, end))
    # The workers start from a fork server, not a fork of this process: a fork copies the locks of the threads
    # running here (a decoder's, libswscale's slice threads), and a worker that decoded frames with a copied
    # lock held waited forever (tests/test_train.py's workers, under the whole test suite).
    loader = torch.utils.data.DataLoader(_Indexed(make, first, end), batch_size=None, shuffle=False,
                                         num_workers=workers, prefetch_factor=ahead,
                                         multiprocessing_context="forkserver")
    return iter(loader)


class ThreadPrefetcher:
    """Makes batch ``k + 1`` on a thread while step ``k`` trains (degradation and optical flow are
    OpenCV and numpy, which release the GIL): a fifth of a step's time, hidden.

    ``get(k)`` returns ``make(k)`` (made ahead when the previous call asked for ``k - 1``) and
    starts ``make(k + 1)``. Use it as a context manager: leaving stops the thread.
    """

    def __init__(self, make: Callable[[int], Any]) -> None:
        self._make = make
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="style-batches")
        self._next: tuple[int, Future] | None = None

    def get(self, index: int) -> Any:
        if self._next is not None and self._next[0] == index:
            batch = self._next[1].result()
        else:
            batch = self._make(index)
        self._next = (index + 1, self._pool.submit(self._make, index + 1))
        return batch

    def __enter__(self) -> ThreadPrefetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
