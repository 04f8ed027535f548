"""The events() iterator of the event emitter (Room, participants): what it collects and when
it ends. No server: events are emitted directly."""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import AsyncIterator

import pytest

from lkcore._events import EmittedEvent, EventEmitter

GUARD = 5.0


async def test_collects_from_the_call_not_from_the_first_step() -> None:
    # ``it = room.events()`` before ``await room.connect()``: what the connection emits before
    # the loop over ``it`` starts is not lost.
    em: EventEmitter[str] = EventEmitter()
    it = em.events()
    em.emit("connection_state_changed", 1)
    em.emit("connected")
    em._close_iterators()
    got = await asyncio.wait_for(_pairs(it), GUARD)
    assert got == [("connection_state_changed", (1,)), ("connected", ())]


async def test_a_waiting_loop_is_woken_by_each_event_and_by_the_close() -> None:
    em: EventEmitter[str] = EventEmitter()
    it = em.events()

    async def collect() -> "list[str]":
        return [ev.name async for ev in it]

    task = asyncio.create_task(collect())
    await asyncio.sleep(0)  # the loop waits for its first event
    em.emit("a")
    await asyncio.sleep(0)
    em.emit("b")
    em._close_iterators()
    assert await asyncio.wait_for(task, GUARD) == ["a", "b"]


async def test_made_after_the_final_close_it_ends_at_once() -> None:
    em: EventEmitter[str] = EventEmitter()
    em._close_iterators()
    em.emit("late")  # nobody collects it
    got = await asyncio.wait_for(_drain(em.events()), GUARD)  # used to wait forever
    assert got == []


async def test_a_slow_consumer_loses_the_oldest_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    em: EventEmitter[str] = EventEmitter()
    it = em.events(maxsize=2)
    with caplog.at_level(logging.WARNING, logger="lkcore"):
        for name in ("a", "b", "c", "d"):
            em.emit(name)
    em._close_iterators()
    assert await asyncio.wait_for(_drain(it), GUARD) == ["c", "d"]
    assert sum("not keeping up" in r.getMessage() for r in caplog.records) == 2


async def test_aclose_ends_the_loop_and_stops_collecting(caplog: pytest.LogCaptureFixture) -> None:
    em: EventEmitter[str] = EventEmitter()
    it = em.events(maxsize=1)
    em.emit("a")
    await it.aclose()  # type: ignore[attr-defined]  # events() is typed as an AsyncIterator
    with caplog.at_level(logging.WARNING, logger="lkcore"):
        em.emit("b")
        em.emit("c")
    assert await asyncio.wait_for(_drain(it), GUARD) == []
    assert not [r for r in caplog.records if "not keeping up" in r.getMessage()]


async def test_an_iterator_left_behind_is_not_fed(caplog: pytest.LogCaptureFixture) -> None:
    # A loop left with ``break`` drops its iterator: the emitter must not keep buffering into
    # it (and warn that nobody keeps up) for the rest of the room's life.
    em: EventEmitter[str] = EventEmitter()
    it = em.events(maxsize=1)
    em.emit("first")
    assert (await asyncio.wait_for(it.__anext__(), GUARD)).name == "first"
    del it
    gc.collect()
    with caplog.at_level(logging.WARNING, logger="lkcore"):
        for _ in range(3):
            em.emit("x")
    assert not [r for r in caplog.records if "not keeping up" in r.getMessage()]
    kept = em.events()  # one still referenced is fed
    em.emit("y")
    em._close_iterators()
    assert await asyncio.wait_for(_drain(kept), GUARD) == ["y"]


async def test_one_reader_at_a_time() -> None:
    em: EventEmitter[str] = EventEmitter()
    it = em.events()
    first = asyncio.create_task(it.__anext__())
    await asyncio.sleep(0)  # it waits for an event
    with pytest.raises(RuntimeError, match="already awaited"):
        await asyncio.wait_for(it.__anext__(), GUARD)
    em.emit("a")
    assert (await asyncio.wait_for(first, GUARD)).name == "a"  # the first reader still gets it


async def _pairs(it: "AsyncIterator[EmittedEvent]") -> "list[tuple[str, tuple[object, ...]]]":
    return [(ev.name, ev.args) async for ev in it]


async def _drain(it: "AsyncIterator[EmittedEvent]") -> "list[str]":
    return [ev.name async for ev in it]
