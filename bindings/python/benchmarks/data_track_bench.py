#!/usr/bin/env python3
"""Data-track throughput and latency through the Python binding on both ends (two rooms in one
process, so one event loop carries publisher and subscriber).

    python bindings/python/benchmarks/data_track_bench.py --url ws://127.0.0.1:7880 \
        --pub-token $T1 --sub-token $T2

Prints JSON: 1 KB frames pushed flat out for --seconds (pushed, QUEUE_FULL refusals, received,
counted drops), and one-way latency p50/p99 of 256 B frames at 500 Hz.

--only latency runs the latency part alone; --diag adds where the time goes: garbage-collector
pauses (gc.callbacks), the event thread's batch sizes and its hand-off delay to the loop
(event thread received the batch -> loop dispatched it; none with the default loop-driven
delivery), and the p99 of each stage. --event-thread uses the thread fallback, to compare.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import time
from typing import Any, Dict, List

import lkcore
from lkcore import _client


class Diag:
    """Instruments GC pauses and the event thread -> loop hand-off (benchmark only)."""

    def __init__(self) -> None:
        self.gc_pauses_ms: List[float] = []
        self.gc_by_gen: Dict[int, int] = {0: 0, 1: 0, 2: 0}
        self.batches: List[int] = []
        self.handoff_us: List[float] = []
        self._gc_start = 0
        self.last = (0, 0)  # (event thread got the batch, loop dispatched it), wall clock ns
        # per frame: (library+network, hand-off, loop) in microseconds
        self.stages: List["tuple[float, float, float]"] = []

    def install(self) -> None:
        gc.callbacks.append(self._on_gc)
        orig_on_events = _client.Client._on_events
        orig_dispatch = _client.Client._dispatch_all
        diag = self

        def on_events(client: Any, batch: "list[bytes]") -> None:
            diag.batches.append(len(batch))
            t = time.time_ns()
            orig_on_events(client, batch)
            diag._t_thread = t  # after the hand-off was queued: dispatch_all runs later

        def dispatch_all(client: Any, evs: Any) -> None:
            t = getattr(diag, "_t_thread", None)
            now = time.time_ns()
            if t is not None:
                diag.handoff_us.append((now - t) / 1000)
            diag.last = (t or now, now)
            orig_dispatch(client, evs)

        orig_pull = _client.Client._pull_on_loop

        def pull_on_loop(client: Any, ref: Any) -> None:  # loop-driven delivery: no hand-off
            now = time.time_ns()
            diag.last = (now, now)
            orig_pull(client, ref)

        _client.Client._pull_on_loop = pull_on_loop  # type: ignore[method-assign]
        _client.Client._on_events = on_events  # type: ignore[method-assign]
        _client.Client._dispatch_all = dispatch_all  # type: ignore[method-assign]

    def _on_gc(self, phase: str, info: Dict[str, int]) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter_ns()
        else:
            self.gc_pauses_ms.append((time.perf_counter_ns() - self._gc_start) / 1e6)
            self.gc_by_gen[info["generation"]] += 1

    def frame(self, user_ts_us: int) -> None:
        """Called by the consumer for each frame it takes."""
        now = time.time_ns()
        t_thread, t_disp = self.last
        self.stages.append((t_thread / 1000 - user_ts_us, (t_disp - t_thread) / 1000, (now - t_disp) / 1000))

    def report(self) -> Dict[str, Any]:
        def q(xs: List[float], p: float) -> Any:
            xs = sorted(xs)
            return round(xs[min(len(xs) - 1, int(p * len(xs)))], 3) if xs else None

        return {
            "gc_collections": self.gc_by_gen,
            "gc_pause_ms_max": q(self.gc_pauses_ms, 1.0),
            "gc_pause_ms_total": round(sum(self.gc_pauses_ms), 2),
            "batches": len(self.batches),
            "batch_size_p50": q(self.batches, 0.5),
            "batch_size_max": q(self.batches, 1.0),
            "handoff_us_p50": q(self.handoff_us, 0.5),
            "handoff_us_p99": q(self.handoff_us, 0.99),
            "handoff_us_max": q(self.handoff_us, 1.0),
            "stage_p99_us": {
                "library_network": q([x[0] for x in self.stages], 0.99),
                "handoff": q([x[1] for x in self.stages], 0.99),
                "loop": q([x[2] for x in self.stages], 0.99),
            },
            # the slowest 1 % of frames: mean time in each stage
            "slowest_1pct_mean_us": self._slowest(),
        }

    def _slowest(self) -> Dict[str, float]:
        if not self.stages:
            return {}
        worst = sorted(self.stages, key=sum)[-max(1, len(self.stages) // 100):]
        n = len(worst)
        return {k: round(sum(x[i] for x in worst) / n, 1) for i, k in enumerate(("library_network", "handoff", "loop"))}


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--pub-token", required=True)
    p.add_argument("--sub-token", required=True)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--only", choices=("flat", "latency"), help="run one part only")
    p.add_argument("--diag", action="store_true", help="report GC pauses and event hand-off")
    p.add_argument(
        "--event-thread", action="store_true",
        help="deliver events through a dedicated thread (the fallback) instead of the loop's notify pipe",
    )
    a = p.parse_args()
    if a.event_thread:
        _client.Client._make_notifier = lambda self: None  # type: ignore[method-assign]
    diag = Diag() if a.diag else None
    if diag is not None:
        diag.install()
    sub_room = lkcore.Room()
    published: "asyncio.Queue[lkcore.RemoteDataTrack]" = asyncio.Queue()
    sub_room.on("data_track_published", published.put_nowait)
    await sub_room.connect(a.url, a.sub_token)
    pub_room = lkcore.Room()
    await pub_room.connect(a.url, a.pub_token)
    out = {}

    for name, size, rate in (("flat", 1024, 0.0), ("latency", 256, 500.0)):
        if a.only and a.only != name:
            continue
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
                    if diag is not None:
                        diag.frame(f.user_timestamp or 0)

        consumer = asyncio.ensure_future(consume())
        if diag is not None:  # measure the timed part only
            diag.__init__()
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
                # Pace like Go's time.Ticker (tests/bench/dtlatency): slots missed while the
                # process was not scheduled are skipped, not caught up in a burst (a burst of
                # more than the 16-frame queue would be refused and queue behind itself).
                next_at += period
                now = time.monotonic()
                if next_at < now:
                    next_at = now
                await asyncio.sleep(next_at - now)
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
                "max_ms": round(lat[-1] / 1000, 2) if lat else None,
            }
            if diag is not None:
                out["diag"] = diag.report()
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
