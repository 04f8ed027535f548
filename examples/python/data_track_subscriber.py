#!/usr/bin/env python3
"""Subscribes to remote data tracks (optionally filtered by publisher and name) and prints
their frames with the one-way latency taken from the frame's user timestamp.

    python examples/python/data_track_subscriber.py --url ws://127.0.0.1:7880 --token $TOKEN \
        --track telemetry
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from typing import Set

import lkcore

from _common import parse, parser, room_options

log = logging.getLogger("subscriber")


async def consume(track: lkcore.RemoteDataTrack, buffer_size: int) -> None:
    sub = await track.subscribe(buffer_size=buffer_size)
    log.info("subscribed to %r from %r", track.name, track.publisher_identity)
    n = 0
    async for frame in sub:
        n += 1
        latency = ""
        if frame.user_timestamp is not None:
            latency = f" latency={time.time_ns() // 1_000_000 - frame.user_timestamp}ms"
        dropped = f" dropped_before={frame.dropped_before}" if frame.dropped_before else ""
        print(f"{track.publisher_identity}/{track.name} #{n} {len(frame.payload)}B{latency}{dropped}: "
              f"{frame.payload[:80]!r}", flush=True)
    log.info("subscription to %r ended (%s): %d received, %d dropped",
             track.name, sub.end_reason, sub.frames_received, sub.frames_dropped)


async def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--track", default=None, help="only tracks with this name")
    p.add_argument("--publisher", default=None, help="only tracks of this participant")
    p.add_argument("--buffer", type=int, default=16, help="subscription buffer (frames)")
    args = parse(p)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tasks: Set[asyncio.Task] = set()

    def wanted(t: lkcore.RemoteDataTrack) -> bool:
        return (args.track is None or t.name == args.track) and (
            args.publisher is None or t.publisher_identity == args.publisher)

    def start(t: lkcore.RemoteDataTrack) -> None:
        if wanted(t):
            task = asyncio.ensure_future(consume(t, args.buffer))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    async with lkcore.Room(room_options(args), lib_path=args.lib) as room:
        room.on("data_track_published", start)
        room.on("data_track_unpublished", lambda t: log.info("%r unpublished %r", t.publisher_identity, t.name))
        room.on("participant_connected", lambda p: log.info("%r joined", p.identity))
        room.on("disconnected", lambda reason: (log.warning("disconnected: %s", reason.name), stop.set()))
        await room.connect(args.url, args.token)
        log.info("connected to %r as %r; waiting for data tracks", room.name, room.local_participant.identity)
        for participant in room.remote_participants.values():  # tracks published before we joined
            for t in participant.data_tracks.values():
                start(t)
        await stop.wait()
        for task in tasks:
            task.cancel()


if __name__ == "__main__":
    asyncio.run(main())
