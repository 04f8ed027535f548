#!/usr/bin/env python3
"""RPC round trip through the Python binding on both ends (two rooms in one process).

    python bindings/python/benchmarks/rpc_bench.py --url ws://127.0.0.1:7880 \
        --caller-token $T1 --callee-token $T2 --callee-identity callee

Prints JSON: p50/p99 of 100-byte echoes and the time of 1 MiB echoes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

import lkcore


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--caller-token", required=True)
    p.add_argument("--callee-token", required=True)
    p.add_argument("--callee-identity", required=True)
    p.add_argument("-n", type=int, default=500)
    a = p.parse_args()
    callee = lkcore.Room()
    callee.register_rpc_method("echo", lambda d: d.payload)
    await callee.connect(a.url, a.callee_token)
    caller = lkcore.Room()
    await caller.connect(a.url, a.caller_token)
    lp = caller.local_participant
    small = "x" * 100
    for _ in range(20):  # warm up
        await lp.perform_rpc(a.callee_identity, "echo", small)
    lat = []
    for _ in range(a.n):
        t0 = time.perf_counter()
        await lp.perform_rpc(a.callee_identity, "echo", small)
        lat.append((time.perf_counter() - t0) * 1000)
    lat.sort()
    big = "y" * (1 << 20)
    big_ms = []
    for _ in range(3):
        t0 = time.perf_counter()
        assert await lp.perform_rpc(a.callee_identity, "echo", big, response_timeout=30) == big
        big_ms.append((time.perf_counter() - t0) * 1000)
    print(json.dumps({
        "rpc_100B_p50_ms": round(statistics.median(lat), 2),
        "rpc_100B_p99_ms": round(lat[int(len(lat) * 0.99) - 1], 2),
        "rpc_1MiB_echo_ms": [round(x, 1) for x in big_ms],
    }))
    await caller.disconnect()
    await callee.disconnect()


if __name__ == "__main__":
    asyncio.run(main())
