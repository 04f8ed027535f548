#!/usr/bin/env python3
"""Calls the methods of rpc_server.py on a participant and prints results and round-trip times.

    python examples/python/rpc_client.py --url ws://127.0.0.1:7880 --token $TOKEN --to server
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

import lkcore

from _common import parse, parser, room_options

log = logging.getLogger("rpc-client")


async def call(lp: lkcore.LocalParticipant, to: str, method: str, payload: str) -> None:
    t0 = time.perf_counter()
    try:
        res = await lp.perform_rpc(to, method, payload, response_timeout=10)
        print(f"{method}({payload[:40]!r}) -> {res[:80]!r}  [{(time.perf_counter() - t0) * 1000:.1f} ms]")
    except lkcore.RpcError as e:
        print(f"{method}({payload[:40]!r}) failed: code={e.rpc_code} message={e.message!r} data={e.data!r}")


async def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--to", required=True, help="identity of the participant running rpc_server.py")
    args = parse(p)
    async with lkcore.Room(room_options(args), lib_path=args.lib) as room:
        await room.connect(args.url, args.token)
        lp = room.local_participant
        await call(lp, args.to, "echo", "hello")
        await call(lp, args.to, "echo", "x" * 100_000)
        await call(lp, args.to, "uppercase", "make me loud")
        await call(lp, args.to, "time", "")
        await call(lp, args.to, "divide", json.dumps({"a": 1, "b": 4}))
        await call(lp, args.to, "divide", json.dumps({"a": 1, "b": 0}))
        await call(lp, args.to, "no-such-method", "")


if __name__ == "__main__":
    asyncio.run(main())
