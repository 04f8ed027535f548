#!/usr/bin/env python3
"""Data-track throughput and latency through the Python binding on both ends (two rooms in one
process, so one event loop carries publisher and subscriber).

    python bindings/python/benchmarks/data_track_bench.py --url ws://127.0.0.1:7880 \
        --pub-token $T1 --sub-token $T2

Prints JSON: 1 KB frames pushed flat out for --seconds (pushed, QUEUE_FULL refusals, received,
counted drops), and one-way latency p50/p99 of 256 B frames at 500 Hz.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import lkcore


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--pub-token", required=True)
    p.add_argument("--sub-token", required=True)
    p.add_argument("--seconds", type=float, default=3.0)
    a = p.parse_args()
    sub_room = lkcore.Room()
    published: "asyncio.Queue[lkcore.RemoteDataTrack]" = asyncio.Queue()
    sub_room.on("data_track_published", published.put_nowait)
    await sub_room.connect(a.url, a.sub_token)
    pub_room = lkcore.Room()
    await pub_room.connect(a.url, a.pub_token)
    out = {}

    for name, size, rate in (("flat", 1024, 0.0), ("latency", 256, 500.0)):
        track = await pub_room.local_participant.publish_data_track(name)
        remote = await asyncio.wait_for(published.get(), 10)
        sub = await remote.subscribe(buffer_size=64)
        # warm up until the subscription delivers
        first = asyncio.ensure_future(sub.__anext__())
        while not first.done():
            try:
                track.try_push(b"w", user_timestamp=0)
            except lkcore.QueueFullError:
                pass
            await asyncio.sleep(0.01)
        received, dropped, lat = 0, 0, []

        async def consume() -> None:
            nonlocal received, dropped
            async for f in sub:
                if f.payload == b"w":
                    continue
                received += 1
                dropped += f.dropped_before
                if rate:
                    lat.append(time.time_ns() // 1000 - (f.user_timestamp or 0))

        consumer = asyncio.ensure_future(consume())
        pushed = full = 0
        end = time.monotonic() + a.seconds
        payload = b"x" * size
        period = 1.0 / rate if rate else 0.0
        next_at = time.monotonic()
        while time.monotonic() < end:
            try:
                track.try_push(payload, user_timestamp=time.time_ns() // 1000)
                pushed += 1
            except lkcore.QueueFullError:
                full += 1
            if rate:
                next_at += period
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            elif pushed % 16 == 0:
                await asyncio.sleep(0)  # let the subscriber run on the same loop
        await asyncio.sleep(0.5)
        await track.unpublish()
        await asyncio.wait_for(consumer, 10)
        if rate:
            lat.sort()
            out["latency_256B_500Hz"] = {
                "received": received, "pushed": pushed,
                "p50_ms": round(lat[len(lat) // 2] / 1000, 2) if lat else None,
                "p99_ms": round(lat[int(len(lat) * 0.99) - 1] / 1000, 2) if lat else None,
            }
        else:
            out["flat_1KB"] = {
                "pushed_per_s": round(pushed / a.seconds), "queue_full": full,
                "received_per_s": round(received / a.seconds), "counted_drops": dropped,
            }
    print(json.dumps(out))
    await pub_room.disconnect()
    await sub_room.disconnect()


if __name__ == "__main__":
    asyncio.run(main())
