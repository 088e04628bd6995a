"""Run blocking work in a thread while the activity keeps heartbeating (so long work is not timed out
and a cancel request still reaches the activity)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from temporalio import activity

T = TypeVar("T")


async def in_thread_heartbeating(fn: Callable[..., T], *args: object, every_s: float = 5.0,
                                 detail: str = "working", beat: Callable[..., None] = activity.heartbeat) -> T:
    """`asyncio.to_thread(fn, *args)`, heartbeating every `every_s` seconds until it returns."""
    task = asyncio.ensure_future(asyncio.to_thread(fn, *args))
    while True:
        done, _ = await asyncio.wait([task], timeout=every_s)
        if done:
            return task.result()
        beat(detail)
