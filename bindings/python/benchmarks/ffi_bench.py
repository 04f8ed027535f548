#!/usr/bin/env python3
"""FFI cost seen from Python (no server): synchronous request, asynchronous request with its
completion event through the event thread and the loop, and the data-track push fast path
(measured up to the handle check). Prints JSON.

    LKCORE_LIB=build/liblkcore.so python bindings/python/benchmarks/ffi_bench.py
"""

from __future__ import annotations

import asyncio
import json
import time

import lkcore
from lkcore._proto import lkcore_ffi_pb2 as pb


def per_op(n: int, fn) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n * 1e6


async def main() -> None:
    c = lkcore.Client()
    small = pb.Request(echo=pb.EchoRequest(payload=b"x" * 16))
    big = pb.Request(echo=pb.EchoRequest(payload=b"x" * 65536))
    res = {
        "sync_echo_16B_us": per_op(20000, lambda: c.request(small)),
        "sync_echo_64KiB_us": per_op(2000, lambda: c.request(big)),
    }
    room = c.request(pb.Request(create_room=pb.CreateRoomRequest())).create_room.room.handle
    c.adopt(room)

    def push() -> None:
        try:
            c.push_frame(room, b"x" * 1024, 1)
        except lkcore.WrongHandleTypeError:
            pass

    res["push_1KiB_until_handle_check_us"] = per_op(20000, push)

    e = pb.EchoRequest(payload=b"x" * 16)
    setattr(e, "async", True)
    n = 5000
    t0 = time.perf_counter()
    for _ in range(n):
        await c.request_async(pb.Request(echo=e))
    res["async_echo_round_trip_us"] = (time.perf_counter() - t0) / n * 1e6
    t0 = time.perf_counter()
    await asyncio.gather(*(c.request_async(pb.Request(echo=e)) for _ in range(n)))
    res["async_echo_pipelined_per_op_us"] = (time.perf_counter() - t0) / n * 1e6
    await c.aclose()
    print(json.dumps({k: round(v, 2) for k, v in res.items()}))


if __name__ == "__main__":
    asyncio.run(main())
