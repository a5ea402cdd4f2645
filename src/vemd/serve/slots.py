"""A bounded number of inferences at once, each in a worker thread, the event loop left free.

A request waits for a free slot at most ``queue_timeout`` seconds (then 503) and for the
whole answer until its deadline (then 504). A slot is given back when its thread ends, not
when its request gives up, so the number of running inferences never passes the bound. A
request that gives up (its deadline, the client gone, the server stopping) sets its job's
``cancel`` event; the job checks it between windows and stops there.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from vemd.serve.errors import RequestError

T = TypeVar("T")

POLL_S = 0.1  # how often a waiting request looks whether its client is still there


class ClientGone(Exception):
    """The client closed the connection while its answer was being computed."""


class Slots:
    """``size`` inference slots; see the module docstring."""

    def __init__(self, size: int, queue_timeout: float, request_timeout: float) -> None:
        self.size, self.queue_timeout, self.request_timeout = size, queue_timeout, request_timeout
        self._free = asyncio.Semaphore(size)
        self._pool = ThreadPoolExecutor(size, thread_name_prefix="vemd-predict")
        self._running: set[threading.Event] = set()

    async def run(
        self,
        job: Callable[[threading.Event], T],
        *,
        deadline: float,
        disconnected: Callable[[], Awaitable[bool]],
    ) -> T:
        """``job(cancel)`` in a slot. ``deadline`` is on the running loop's clock.

        RequestError 503 (no slot within ``queue_timeout``), 504 (past ``deadline``);
        ClientGone when ``disconnected()`` says so.
        """
        loop = asyncio.get_running_loop()
        wait = min(self.queue_timeout, deadline - loop.time())
        try:
            await asyncio.wait_for(self._free.acquire(), max(wait, 0.0))
        except TimeoutError:
            if wait < self.queue_timeout:
                raise timed_out(self.request_timeout) from None
            retry = str(max(1, math.ceil(self.queue_timeout)))
            raise RequestError(
                503,
                f"all {self.size} inference slot(s) are busy; waited {self.queue_timeout:g} s: try again later",
                headers={"Retry-After": retry},
            ) from None
        cancel = threading.Event()
        self._running.add(cancel)

        def work() -> T:
            try:
                return job(cancel)
            finally:
                self._running.discard(cancel)
                with contextlib.suppress(RuntimeError):  # a closed loop: the server has stopped
                    loop.call_soon_threadsafe(self._free.release)

        try:
            future = loop.run_in_executor(self._pool, work)
        except RuntimeError:  # the pool is shut down: the server is stopping
            self._running.discard(cancel)
            self._free.release()
            raise RequestError(503, "the server is stopping") from None
        future.add_done_callback(_retrieve)
        try:
            while True:
                done, _ = await asyncio.wait({future}, timeout=max(0.0, min(POLL_S, deadline - loop.time())))
                if done:
                    return future.result()
                if loop.time() >= deadline:
                    raise timed_out(self.request_timeout)
                if await disconnected():
                    raise ClientGone()
        except BaseException:  # gave up (504, client gone, task cancelled): the job stops at its next window
            if not future.done():
                cancel.set()
            raise

    def close(self) -> None:
        """Stop: running jobs are asked to stop, queued ones dropped."""
        for cancel in list(self._running):
            cancel.set()
        self._pool.shutdown(wait=False, cancel_futures=True)


def timed_out(limit_s: float) -> RequestError:
    return RequestError(504, f"the request took longer than the server's limit of {limit_s:g} s")


def _retrieve(future: asyncio.Future) -> None:
    """Fetch the exception of a job whose request gave up, so asyncio does not report it."""
    if not future.cancelled():
        future.exception()
