"""Python side of the cross-language demo: publishes a data track that a C program subscribes
to, then calls an RPC method the C program registered, and prints a summary.

    python python_side.py --url URL --token TOKEN --callee IDENTITY [--frames N] [--rate HZ] [--calls N]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "python"))

import lkcore  # noqa: E402

from _common import parse, parser, room_options  # noqa: E402


async def main() -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--callee", required=True, help="identity of the C RPC callee")
    p.add_argument("--track", default="sensor", help="data track name")
    p.add_argument("--frames", type=int, default=200, help="frames to push")
    p.add_argument("--rate", type=float, default=100.0, help="frames per second")
    p.add_argument("--calls", type=int, default=20, help="RPC calls to make")
    args = parse(p)

    async with lkcore.Room(room_options(args), lib_path=args.lib) as room:
        await room.connect(args.url, args.token)
        me = room.local_participant
        print(f"python: connected as {me.identity!r}")
        track = await me.publish_data_track(args.track)
        print(f"python: published data track {track.name!r}; pushing {args.frames} frames at {args.rate:g} Hz")
        # Give the C subscriber a moment to see the track and subscribe (it is announced by the
        # server's participant update).
        await asyncio.sleep(1.0)

        pushed = full = 0
        t0 = time.monotonic()
        for seq in range(args.frames):
            body = f"frame {seq}".encode()  # the payload format of examples/c (dt_publisher)
            try:
                track.try_push(body, user_timestamp=time.time_ns() // 1_000_000)
                pushed += 1
            except lkcore.QueueFullError:
                full += 1
            await asyncio.sleep(max(0.0, t0 + (seq + 1) / args.rate - time.monotonic()))
        elapsed = time.monotonic() - t0
        print(f"python: pushed {pushed} frames in {elapsed:.2f} s ({pushed / elapsed:.0f} frames/s), {full} refused (queue full)")

        rtts = []
        for i in range(args.calls):
            payload = f"hello from python #{i}"
            t = time.perf_counter()
            answer = await me.perform_rpc(args.callee, "reverse", payload, response_timeout=10)
            rtts.append((time.perf_counter() - t) * 1000)
            if answer != payload[::-1]:
                print(f"python: unexpected RPC answer {answer!r}")
                return 1
        print(
            f"python: {args.calls} RPC calls to {args.callee!r} (C): round trip "
            f"p50 {statistics.median(rtts):.2f} ms, max {max(rtts):.2f} ms; last answer {answer!r}"
        )
        await track.unpublish()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
