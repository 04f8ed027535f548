"""One process of the SDK comparison (tests/bench/sdkcompare/run.sh): a sender or a receiver,
with lkcore's Python binding or the official LiveKit Python SDK, in one scenario.

    python peer.py SDK ROLE SCENARIO URL TOKEN PEER_IDENTITY

SDK is "lkcore" or "official"; ROLE "send" or "recv"; PEER_IDENTITY the other process's
identity. The two processes coordinate through the room (data packets on topic "ctl"). The
receiver prints one JSON line when the sender says it is done, the sender one when it is done:
the scenario's figures, and the process's peak RSS and CPU seconds. Every wait is bounded; a
scenario that does not finish exits non-zero.

Scenarios (the sender is the RPC caller, the stream sender, the data-track publisher):
  rpc-100b     300 RPC echoes of 100 bytes, one at a time: round-trip p50/p99
  rpc-1mib     10 RPC echoes of 1 MiB of base64 (random bytes): round-trip p50
  stream-1mib  10 byte streams of 1 MiB of random bytes: send start to last byte read, p50
  dt-1k-5k     1 KB data-track frames offered at 5 000 per second for 3 s: delivered, lost,
               one-way latency p50/p99 (user timestamp = send time in microseconds)
  dt-100k      100 KB frames as fast as the SDK takes them for 3 s: delivered MB/s, lost
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import resource
import struct
import sys
import time
from typing import Any, Callable, List, Optional

WAIT = 30.0  # bound of every wait for the other process


def now_us() -> int:
    return time.time_ns() // 1000


def peak_rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def pct(xs: List[float], p: float) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, int(p * len(s)))]


class Peer:
    """The SDK-neutral operations a scenario needs, over one connected room."""

    def __init__(self, sdk: str, me: str, other: str) -> None:
        self.sdk, self.me, self.other = sdk, me, other
        self.ctl: "asyncio.Queue[str]" = asyncio.Queue()
        self.room: Any = None

    async def connect(self, url: str, token: str) -> None:
        if self.sdk == "official":
            from livekit import rtc

            self.rtc = rtc
            self.room = rtc.Room()
            self.room.on("data_received", lambda p: p.topic == "ctl" and self.ctl.put_nowait(bytes(p.data).decode()))
            self.room.on("data_track_published", self._official_track)
            self.tracks: "asyncio.Queue[Any]" = asyncio.Queue()
            await asyncio.wait_for(self.room.connect(url, token), WAIT)
        else:
            import lkcore

            self.lk = lkcore
            self.room = lkcore.Room()
            self.room.on("data_received", lambda p: p.topic == "ctl" and self.ctl.put_nowait(p.data.decode()))
            self.tracks = asyncio.Queue()
            self.room.on("data_track_published", lambda t: self.tracks.put_nowait(t))
            await asyncio.wait_for(self.room.connect(url, token), WAIT)
        deadline = time.monotonic() + WAIT
        while self.other not in self.room.remote_participants:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.other} did not join")
            await asyncio.sleep(0.01)

    def _official_track(self, t: Any) -> None:
        self.tracks.put_nowait(t)

    async def close(self) -> None:
        await asyncio.wait_for(self.room.disconnect(), WAIT)

    async def send_ctl(self, msg: str) -> None:
        # (the same call in both SDKs)
        await self.room.local_participant.publish_data(msg.encode(), topic="ctl", destination_identities=[self.other])

    async def wait_ctl(self, prefix: str) -> str:
        while True:
            m = await asyncio.wait_for(self.ctl.get(), WAIT)
            if m.startswith(prefix):
                return m

    # RPC
    def register_echo(self) -> None:
        async def echo(data: Any) -> str:
            return str(data.payload)

        self.room.local_participant.register_rpc_method("echo", echo)

    async def call_echo(self, payload: str) -> str:
        lp = self.room.local_participant
        if self.sdk == "official":
            return str(await lp.perform_rpc(destination_identity=self.other, method="echo", payload=payload, response_timeout=20))
        return str(await lp.perform_rpc(self.other, "echo", payload, response_timeout=20))

    # Byte streams
    def on_bytes(self, handler: Callable[[bytes, dict], None]) -> None:
        if self.sdk == "official":
            async def read(reader: Any) -> None:
                chunks = [c async for c in reader]
                handler(b"".join(chunks), dict(reader.info.attributes or {}))

            self.room.register_byte_stream_handler("bench", lambda r, s: asyncio.ensure_future(read(r)))
        else:
            async def read_lk(reader: Any, sender: str) -> None:
                handler(await reader.read_all(), dict(reader.info.attributes))

            self.room.register_byte_stream_handler("bench", read_lk)

    async def send_bytes(self, data: bytes, attrs: dict) -> None:
        # (the same call in both SDKs)
        await self.room.local_participant.send_bytes(data, topic="bench", destination_identities=[self.other], attributes=attrs)

    # Data tracks
    async def publish(self) -> Callable[[bytes, int], Any]:
        """Publishes track "bench"; returns push(payload, ts) -> awaitable that completes when
        the SDK took the frame (lkcore: the paced blocking push; official: try_push, retried
        after 1 ms while its queue is full)."""
        lp = self.room.local_participant
        if self.sdk == "official":
            rtc = self.rtc
            t = await lp.publish_data_track(name="bench")

            async def push_official(p: bytes, ts: int) -> None:
                while True:
                    try:
                        t.try_push(rtc.DataTrackFrame(payload=p, user_timestamp=ts))
                        return
                    except rtc.PushFrameError:
                        await asyncio.sleep(0.001)

            return push_official
        lt = await lp.publish_data_track("bench")

        async def push_lk(p: bytes, ts: int) -> None:
            await lt.push(p, user_timestamp=ts)

        return push_lk

    async def subscribe(self, on_frame: Callable[[bytes, int], None]) -> "asyncio.Task[None]":
        t = await asyncio.wait_for(self.tracks.get(), WAIT)
        if self.sdk == "official":
            stream = t.subscribe(buffer_size=4096)

            async def read_official() -> None:
                async for f in stream:
                    on_frame(bytes(f.payload), f.user_timestamp or 0)

            return asyncio.ensure_future(read_official())
        sub = await t.subscribe(buffer_size=4096, buffer_bytes=64 << 20).wait_subscribed(WAIT)

        async def read_lk() -> None:
            async for f in sub:
                on_frame(f.payload, f.user_timestamp or 0)

        return asyncio.ensure_future(read_lk())


async def rpc_sender(p: Peer, size: int, n: int, warm: int) -> dict:
    payload = base64.b64encode(os.urandom(size))[:size].decode()
    for _ in range(warm):
        assert await p.call_echo(payload) == payload
    rtts = []
    for _ in range(n):
        t0 = time.perf_counter()
        got = await p.call_echo(payload)
        rtts.append((time.perf_counter() - t0) * 1000)
        assert got == payload
    return {"p50_ms": pct(rtts, 0.5), "p99_ms": pct(rtts, 0.99), "n": n}


async def stream_sender(p: Peer, n: int) -> dict:
    data = os.urandom(1 << 20)
    for i in range(n + 2):  # two warm-up streams
        await p.send_bytes(data, {"t0": str(now_us()), "i": str(i)})
        await p.wait_ctl(f"got {i}")
    return {"n": n}


async def stream_receiver(p: Peer, n: int) -> dict:
    times: List[float] = []

    def got(data: bytes, attrs: dict) -> None:
        assert len(data) == 1 << 20
        i = int(attrs["i"])
        if i >= 2:
            times.append((now_us() - int(attrs["t0"])) / 1000)
        asyncio.ensure_future(p.send_ctl(f"got {i}"))

    p.on_bytes(got)
    await p.send_ctl("ready")
    await p.wait_ctl("done")
    return {"p50_ms": pct(times, 0.5), "n": len(times)}


MAGIC = b"BNCH"


async def dt_sender(p: Peer, size: int, rate: float, seconds: float) -> dict:
    push = await p.publish()
    # Warm-up frames until the receiver says one arrived (its subscription is established).
    deadline = time.monotonic() + WAIT
    while True:
        await push(b"warm-up", now_us())
        try:
            await asyncio.wait_for(p.wait_ctl("subscribed"), 0.05)
            break
        except asyncio.TimeoutError:
            if time.monotonic() > deadline:
                raise
    await asyncio.sleep(0.2)
    body = os.urandom(size - 12)
    sent = 0
    t0 = time.perf_counter()
    end = t0 + seconds
    while True:
        now = time.perf_counter()
        if now >= end:
            break
        if rate:
            due = t0 + sent / rate
            if due > now:
                await asyncio.sleep(due - now)
        await push(MAGIC + struct.pack(">Q", sent) + body, now_us())
        sent += 1
    elapsed = time.perf_counter() - t0
    await asyncio.sleep(1.0)  # let the last frames arrive
    await p.send_ctl(f"done {sent}")
    return {"sent": sent, "offered_per_s": sent / elapsed}


async def dt_receiver(p: Peer, size: int) -> dict:
    lat: List[float] = []
    seqs = set()
    first: List[float] = []
    last: List[float] = [0.0]
    told = [False]

    def on_frame(payload: bytes, ts: int) -> None:
        if payload == b"warm-up":
            if not told[0]:
                told[0] = True
                asyncio.ensure_future(p.send_ctl("subscribed"))
            return
        if not payload.startswith(MAGIC) or len(payload) != size:
            raise AssertionError(f"unexpected frame of {len(payload)} bytes")
        t = time.perf_counter()
        if not first:
            first.append(t)
        last[0] = t
        seqs.add(struct.unpack(">Q", payload[4:12])[0])
        lat.append((now_us() - ts) / 1000)

    reader = await p.subscribe(on_frame)
    done = await p.wait_ctl("done")
    reader.cancel()
    sent = int(done.split()[1])
    span = (last[0] - first[0]) if first else 0.0
    got = len(seqs)
    return {
        "sent": sent,
        "received": got,
        "lost": sent - got,
        "per_s": got / span if span else 0.0,
        "mb_per_s": got * size / span / 1e6 if span else 0.0,
        "lat_p50_ms": pct(lat, 0.5),
        "lat_p99_ms": pct(lat, 0.99),
    }


async def main(sdk: str, role: str, scenario: str, url: str, token: str, other: str) -> None:
    p = Peer(sdk, role, other)
    await p.connect(url, token)
    res: Optional[dict] = None
    cpu0 = cpu_s()
    if scenario.startswith("rpc-"):
        size, n, warm = (100, 300, 20) if scenario == "rpc-100b" else (1 << 20, 10, 2)
        if role == "recv":
            p.register_echo()
            await p.send_ctl("ready")
            await p.wait_ctl("done")
            res = {}
        else:
            await p.wait_ctl("ready")
            res = await rpc_sender(p, size, n, warm)
            await p.send_ctl("done")
    elif scenario == "stream-1mib":
        if role == "recv":
            res = await stream_receiver(p, 10)
        else:
            await p.wait_ctl("ready")
            res = await stream_sender(p, 10)
            await p.send_ctl("done")
    elif scenario in ("dt-1k-5k", "dt-100k"):
        size, rate = (1000, 5000.0) if scenario == "dt-1k-5k" else (100_000, 0.0)
        res = await (dt_receiver(p, size) if role == "recv" else dt_sender(p, size, rate, 3.0))
    else:
        raise SystemExit(f"unknown scenario {scenario}")
    res.update({"sdk": sdk, "role": role, "scenario": scenario, "cpu_s": round(cpu_s() - cpu0, 3), "peak_rss_mb": round(peak_rss_mb(), 1)})
    print(json.dumps(res), flush=True)
    await asyncio.sleep(0.3)  # the last control packet leaves before the room closes
    await p.close()


if __name__ == "__main__":
    if len(sys.argv) != 7:
        raise SystemExit(__doc__)
    asyncio.run(main(*sys.argv[1:]))
