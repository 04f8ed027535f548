#!/usr/bin/env python3
"""Answers RPCs until Ctrl-C: "echo" (async), "uppercase" (sync), "time" and "divide" (which
answers an application RpcError for a division by zero).

    python examples/python/rpc_server.py --url ws://127.0.0.1:7880 --token $TOKEN
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import time

import lkcore

from _common import parse, parser, room_options

log = logging.getLogger("rpc-server")


async def main() -> None:
    args = parse(parser(__doc__.splitlines()[0]))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    room = lkcore.Room(room_options(args), lib_path=args.lib)

    # Registered before connect, so no early call is missed.
    @room.register_rpc_method("echo")
    async def echo(data: lkcore.RpcInvocationData) -> str:
        log.info("echo from %r (%d bytes)", data.caller_identity, len(data.payload))
        return data.payload

    @room.register_rpc_method("uppercase")
    def uppercase(data: lkcore.RpcInvocationData) -> str:
        return data.payload.upper()

    @room.register_rpc_method("time")
    def now(data: lkcore.RpcInvocationData) -> str:
        return json.dumps({"unix_ms": int(time.time() * 1000)})

    @room.register_rpc_method("divide")
    def divide(data: lkcore.RpcInvocationData) -> str:
        req = json.loads(data.payload)
        if req["b"] == 0:
            raise lkcore.RpcError(2000, "division by zero", json.dumps(req))
        return json.dumps({"result": req["a"] / req["b"]})

    async with room:
        room.on("disconnected", lambda reason: stop.set())
        await room.connect(args.url, args.token)
        log.info("serving RPCs as %r in room %r", room.local_participant.identity, room.name)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
