#!/usr/bin/env python3
"""Publishes a data track and pushes a frame at a fixed rate until Ctrl-C.

Each frame is a small JSON document with a sequence number; the frame's user timestamp is the
send time as Unix milliseconds (the LiveKit convention, as the Rust SDK and the C examples use),
so the subscriber examples can print the one-way latency.

    python examples/python/data_track_publisher.py --url ws://127.0.0.1:7880 --token $TOKEN \
        --track telemetry --rate 50
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import time

import lkcore

from _common import parse, parser, room_options

log = logging.getLogger("publisher")


async def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--track", default="telemetry", help="data track name")
    p.add_argument("--rate", type=float, default=20.0, help="frames per second")
    p.add_argument("--size", type=int, default=0, help="pad frames to this many bytes")
    args = parse(p)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    async with lkcore.Room(room_options(args), lib_path=args.lib) as room:
        room.on("disconnected", lambda reason: (log.warning("disconnected: %s", reason.name), stop.set()))
        room.on("reconnecting", lambda kind, attempt: log.warning("reconnecting (%s, attempt %d)", kind.name, attempt))
        room.on(
            "reconnected",
            lambda kind, discarded, _replayed: log.info("reconnected (%s; %d reliable packets discarded)", kind.name, discarded),
        )
        await room.connect(args.url, args.token)
        log.info("connected to %r as %r", room.name, room.local_participant.identity)

        track = await room.local_participant.publish_data_track(args.track, frame_encoding="json")
        log.info("published data track %r (sid %s)", track.name, track.sid)

        seq, full = 0, 0
        period = 1.0 / args.rate
        next_at = time.monotonic()
        while not stop.is_set():
            body = json.dumps({"seq": seq, "from": room.local_participant.identity}).encode()
            if args.size > len(body):
                body += b" " * (args.size - len(body))
            try:
                track.try_push(body, user_timestamp=time.time_ns() // 1_000_000)
                seq += 1
            except lkcore.QueueFullError:
                full += 1  # the send queue is full: this frame is skipped (and counted)
            if seq and seq % max(1, int(args.rate * 5)) == 0:
                log.info("pushed %d frames (%d skipped: queue full)", seq, full)
            next_at += period
            try:
                await asyncio.wait_for(stop.wait(), max(0.0, next_at - time.monotonic()))
            except asyncio.TimeoutError:
                pass
        await track.unpublish()
        log.info("done: %d frames pushed, %d skipped", seq, full)


if __name__ == "__main__":
    asyncio.run(main())
