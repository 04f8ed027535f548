#!/usr/bin/env python3
"""Markdown summary of a tests/bench/run.sh run.

    python3 tests/bench/summary.py build/bench

Reads go-bench.txt (`go test -bench` output, custom metrics included), py-datatrack.json,
py-rpc.json, py-ffi.json (the JSON line each Python benchmark prints), kt-bench.json (the Kotlin
benchmark's JSON line), c-bench.jsonl (one JSON
object per line from tests/capi/bench.cc), size.json, mp.jsonl and mp-large.jsonl (tests/bench/mp.sh: one line per
multi-process scenario), sdkcompare.md (tests/bench/sdkcompare: its table as printed). Missing inputs show as "n/a".
"""

from __future__ import annotations

import json
import os
import re
import statistics
import sys


def parse_go(path: str) -> dict[str, dict[str, float]]:
    """Benchmark name (without the -GOMAXPROCS suffix) -> {unit: value}, plus "N"."""
    res: dict[str, dict[str, float]] = {}
    pkg = ""
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except OSError:
        return res
    for line in lines:
        if line.startswith("pkg: "):
            pkg = line[5:].strip().rsplit("/", 1)[-1]
            continue
        if not line.startswith("Benchmark"):
            continue
        f = line.split()
        if len(f) < 4 or not f[1].isdigit():
            continue
        name = re.sub(r"-\d+$", "", f[0])[len("Benchmark"):]
        m = {"N": float(f[1]), "pkg": pkg}  # type: ignore[dict-item]
        for i in range(2, len(f) - 1, 2):
            try:
                m[f[i + 1]] = float(f[i])
            except ValueError:
                pass
        res[name] = m
    return res


def load_json(path: str):
    try:
        with open(path, encoding="utf-8") as fh:
            lines = [ln for ln in fh.read().splitlines() if ln.strip().startswith("{")]
    except OSError:
        return None
    if not lines:
        return None
    if path.endswith(".jsonl"):
        return [json.loads(ln) for ln in lines]
    return json.loads(lines[-1])


def fmt(v, digits: int = 2) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float) and v >= 1000:
        return f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return f"{v:.{digits}f}"


def dig(d, *keys):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def mb(kib):
    """KiB (getrusage's unit) to MB of 10^6 bytes; None stays None."""
    return None if kib is None else kib * 1024 / 1e6


def main() -> None:
    out = sys.argv[1] if len(sys.argv) > 1 else "build/bench"
    go = parse_go(os.path.join(out, "go-bench.txt"))
    pdt = load_json(os.path.join(out, "py-datatrack.json")) or {}
    prpc = load_json(os.path.join(out, "py-rpc.json")) or {}
    pffi = load_json(os.path.join(out, "py-ffi.json")) or {}
    cb = load_json(os.path.join(out, "c-bench.jsonl")) or []
    size = load_json(os.path.join(out, "size.json")) or {}

    def g(name: str, unit: str):
        return dig(go, name, unit)

    def ns_ms(name: str):
        v = g(name, "ns/op")
        return None if v is None else v / 1e6

    big = prpc.get("rpc_1MiB_echo_ms")
    py_big = statistics.median(big) if big else None

    p = print
    p("## Python binding vs Go core (loopback, devsfu, same machine)")
    p()
    p("| Measure | Python (lkcore binding) | Go (core/room) |")
    p("|---|---:|---:|")
    p(f"| Data track 1 KB frames flat out, received frames/s | "
      f"{fmt(dig(pdt, 'flat_1KB', 'received_per_s'))} (pushed {fmt(dig(pdt, 'flat_1KB', 'pushed_per_s'))}/s, "
      f"QUEUE_FULL {fmt(dig(pdt, 'flat_1KB', 'queue_full'))}) | "
      f"{fmt(g('DataTrackThroughput1KB', 'rx-frames/s'))} (loss {fmt(g('DataTrackThroughput1KB', 'loss-%'))} %) |")
    p(f"| Data track 256 B @ 500 Hz one-way latency p50 / p99 (ms) | "
      f"{fmt(dig(pdt, 'latency_256B_500Hz', 'p50_ms'))} / {fmt(dig(pdt, 'latency_256B_500Hz', 'p99_ms'))} | "
      f"{fmt(g('DataTrackLatency', 'p50-ms'))} / {fmt(g('DataTrackLatency', 'p99-ms'))} |")
    p(f"| RPC 100 B echo round trip p50 / p99 (ms) | "
      f"{fmt(prpc.get('rpc_100B_p50_ms'))} / {fmt(prpc.get('rpc_100B_p99_ms'))} | "
      f"{fmt(g('RPCRoundTrip100B', 'p50-ms'))} / {fmt(g('RPCRoundTrip100B', 'p99-ms'))} |")
    p(f"| RPC 1 MiB echo round trip (ms) | {fmt(py_big, 1)} (median of {len(big) if big else 0}, "
      f"text) | {fmt(ns_ms('RPC1MB/text'), 1)} text, {fmt(ns_ms('RPC1MB/random'), 1)} random |")
    p()
    p("Python: both rooms in one process and one asyncio loop (bindings/python/benchmarks); "
      "its 1 KB frame is 1024 B, Go's 1000 B. Go: both rooms and the SFU in one process.")
    p()

    kt = load_json(os.path.join(out, "kt-bench.json")) or {}
    p("## Kotlin binding vs Python binding and Go core (loopback, devsfu, same machine)")
    p()
    p("| Measure | Kotlin (bindings/kotlin) | Python | Go |")
    p("|---|---:|---:|---:|")
    p(f"| Data track 1 KB frames flat out, received frames/s | "
      f"{fmt(dig(kt, 'flat_1KB', 'received_per_s'))} (pushed {fmt(dig(kt, 'flat_1KB', 'pushed_per_s'))}/s, "
      f"QUEUE_FULL {fmt(dig(kt, 'flat_1KB', 'queue_full'))}) | {fmt(dig(pdt, 'flat_1KB', 'received_per_s'))} | "
      f"{fmt(g('DataTrackThroughput1KB', 'rx-frames/s'))} |")
    p(f"| Data track 1 KB frames with the suspending push (back-pressure), received frames/s | "
      f"{fmt(dig(kt, 'push_1KB', 'received_per_s'))} (pushed {fmt(dig(kt, 'push_1KB', 'pushed_per_s'))}/s) | — | — |")
    p(f"| Data track 256 B @ 500 Hz one-way latency p50 / p99 (ms) | "
      f"{fmt(dig(kt, 'latency_256B_500Hz', 'p50_ms'))} / {fmt(dig(kt, 'latency_256B_500Hz', 'p99_ms'))} | "
      f"{fmt(dig(pdt, 'latency_256B_500Hz', 'p50_ms'))} / {fmt(dig(pdt, 'latency_256B_500Hz', 'p99_ms'))} | "
      f"{fmt(g('DataTrackLatency', 'p50-ms'))} / {fmt(g('DataTrackLatency', 'p99-ms'))} |")
    p(f"| RPC 100 B echo round trip p50 / p99 (ms) | "
      f"{fmt(kt.get('rpc_100B_p50_ms'))} / {fmt(kt.get('rpc_100B_p99_ms'))} | "
      f"{fmt(prpc.get('rpc_100B_p50_ms'))} / {fmt(prpc.get('rpc_100B_p99_ms'))} | "
      f"{fmt(g('RPCRoundTrip100B', 'p50-ms'))} / {fmt(g('RPCRoundTrip100B', 'p99-ms'))} |")
    p()
    p("Kotlin: both rooms in one JVM (examples/kotlin Bench.kt), frames read with lk_data_track_read "
      "on Dispatchers.IO, pushed with lk_data_track_push (tryPush, refused frames not retried).")
    p()

    mp = load_json(os.path.join(out, "mp.jsonl")) or []
    if mp:
        p("## Data tracks, multi-process (devsfu CLI, publisher and subscriber in separate processes)")
        p()
        p("| Scenario | Offered / accepted frames | Refused | Delivered frames/s | MB/s | Lost | "
          "Latency p50 / p99 / max (ms) | CPU-ms per MB pub / SFU / sub | Peak RSS MB pub / sub |")
        p("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for row in mp:
            pub, sub = row.get("pub", {}), row.get("sub", {})
            offered = pub.get("sent", 0) + pub.get("refused", 0)
            p(f"| {row.get('scenario')} | {fmt(offered)} / {fmt(pub.get('sent'))} | {fmt(pub.get('refused'))} | "
              f"{fmt(sub.get('frames_per_s'), 0)} | {fmt(sub.get('mb_per_s'), 1)} | {fmt(sub.get('lost'))} | "
              f"{fmt(sub.get('p50_ms'))} / {fmt(sub.get('p99_ms'))} / {fmt(sub.get('max_ms'))} | "
              f"{fmt(dig(row, 'cpu_ms_per_mb', 'pub'), 0)} / {fmt(dig(row, 'cpu_ms_per_mb', 'sfu'), 0)} / "
              f"{fmt(dig(row, 'cpu_ms_per_mb', 'sub'), 0)} | "
              f"{fmt(mb(dig(pub, 'proc', 'peak_rss_kb')), 1)} / {fmt(mb(dig(sub, 'proc', 'peak_rss_kb')), 1)} |")
        p()
        for row in mp:  # where lost frames went missing, when the run recorded it
            sub, dt = row.get("sub", {}), dig(row, "sfu", "dt")
            if sub.get("lost") and dt:
                p(f"- {row.get('scenario')}: {fmt(sub.get('lost'))} frames lost; the SFU received "
                  f"{fmt(dt.get('packets_in'))} and wrote {fmt(dt.get('packets_out'))} packets "
                  f"({fmt(dt.get('congestion_drops'))} congestion drops), the subscriber's room received "
                  f"{fmt(sub.get('rx_packets'))} (pipeline drops {sub.get('rx_drops') or 0}); kernel UDP "
                  f"receive-buffer drops on the machine: {fmt(row.get('udp_rcvbuf_drops'))}")
        p()
        p("Push: blocking Push as fast as it goes; trypush: TryPush at a fixed offered rate (a refused "
          "frame is not retried). Latency is one-way, send to the subscriber's reader, one clock. "
          "CPU-ms per MB: each process's user + system CPU time over the scenario per delivered MB. "
          "Peak RSS: the most memory each client process held (getrusage), in MB of 10^6 bytes.")
        p()

    large = load_json(os.path.join(out, "mp-large.jsonl")) or []
    if large:
        p("## Large payloads, multi-process (devsfu CLI, two client processes)")
        p()
        p("| Scenario | Latency p50 / p99 (ms) | CPU ms/op: sender / receiver / SFU | "
          "Allocated MB/op: sender / receiver | Allocations/op: sender / receiver |")
        p("|---|---:|---:|---:|---:|")
        for row in large:
            a, b = row.get("a", {}), row.get("b", {})
            # RPC: the caller's round trip; streams: the receiver's one-way latency.
            lat = a if a.get("role") == "rpc-caller" else b
            p(f"| {row.get('scenario')} | {fmt(lat.get('p50_ms'), 1)} / {fmt(lat.get('p99_ms'), 1)} | "
              f"{fmt(a.get('cpu_ms_per_op'), 1)} / {fmt(b.get('cpu_ms_per_op'), 1)} / "
              f"{fmt(a.get('sfu_cpu_ms_per_op'), 1)} | "
              f"{fmt(a.get('alloc_mb_per_op'), 1)} / {fmt(b.get('alloc_mb_per_op'), 1)} | "
              f"{fmt(a.get('allocs_per_op'), 0)} / {fmt(b.get('allocs_per_op'), 0)} |")
        p()
        p("One operation at a time, 20 measured after 2 warm-ups. RPC: echo round trip caller → callee → "
          "caller (sender = caller, receiver = callee). Streams: one-way, from the send call to the last byte "
          "read. random: random bytes for byte streams, base64 of random bytes for RPC and text streams (deflate "
          "keeps ~75 %); text: a repeated sentence (compresses to almost nothing). "
          "CPU: user + system time of each process over the measured span (SFU from /proc), per operation.")
        p()

    p("## FFI cost")
    p()
    p("| Measure | Figure |")
    p("|---|---:|")
    for name, label in (("RequestEcho", "Go: dispatch of one synchronous request (capi/internal/ffi)"),
                        ("PushFrame", "Go: push fast path overhead (handle lookup + dispatch)"),
                        ("EventDelivery", "Go: post + encode one event")):
        m = go.get(name)
        if m:
            p(f"| {label} | {fmt(m.get('ns/op'), 0)} ns/op, {fmt(m.get('allocs/op'), 0)} allocs/op |")
    for c in cb:
        ms = c.get("measure")
        if ms == "request_roundtrip":
            p(f"| C: lk_client_request round trip, 100 B | {fmt(c.get('ns_per_op'), 0)} ns |")
        elif ms in ("events_callback", "events_pull"):
            p(f"| C: event delivery ({ms.split('_')[1]}) | {fmt(c.get('ns_per_event'), 0)} ns/event "
              f"({fmt(c.get('events_per_s'), 0)} events/s) |")
        elif ms in ("push_fast", "push_pb"):
            how = "lk_data_track_push" if ms == "push_fast" else "PushDataTrackFrameRequest"
            p(f"| C: 1 KiB data-track push via {how} | {fmt(c.get('ns_per_call'), 0)} ns/call, "
              f"{fmt(c.get('accepted_frames_per_s'), 0)} accepted frames/s |")
    labels = {
        "sync_echo_16B_us": "Python: synchronous request, 16 B echo",
        "sync_echo_64KiB_us": "Python: synchronous request, 64 KiB echo",
        "push_1KiB_until_handle_check_us": "Python: 1 KiB push fast path (up to the handle check)",
        "async_echo_round_trip_us": "Python: async request + completion event, sequential",
        "async_echo_pipelined_per_op_us": "Python: async request + completion event, pipelined",
    }
    for k, label in labels.items():
        if k in pffi:
            p(f"| {label} | {fmt(float(pffi[k]))} µs |")
    if size:
        p(f"| liblkcore.so size (stripped / unstripped) | {size['stripped_bytes'] / 1e6:.2f} MB / "
          f"{size['unstripped_bytes'] / 1e6:.2f} MB |")
    p()

    try:
        cmp = open(os.path.join(out, "sdkcompare.md"), encoding="utf-8").read().strip()
    except OSError:
        cmp = ""
    p("## lkcore's Python binding vs the official LiveKit Python SDK (tests/bench/sdkcompare)")
    p()
    p(cmp or "n/a")
    p()

    p("## All Go benchmarks")
    p()
    p("| Package | Benchmark | N | ns/op | B/op | allocs/op | Custom metrics |")
    p("|---|---|---:|---:|---:|---:|---|")
    std = {"N", "pkg", "ns/op", "B/op", "allocs/op"}
    for name, m in go.items():
        extra = ", ".join(f"{fmt(v)} {u}" for u, v in m.items() if u not in std)
        p(f"| {m.get('pkg', '')} | {name} | {int(m['N'])} | {fmt(m.get('ns/op'), 0)} | "
          f"{fmt(m.get('B/op'), 0)} | {fmt(m.get('allocs/op'), 0)} | {extra} |")


if __name__ == "__main__":
    main()
