"""Runs the SDK comparison (see peer.py) and prints a markdown table.

    python run.py ROUNDS DEVSFU_BIN URL KEY SECRET OUT.jsonl

Each round runs every scenario for every pair of SDKs (sender -> receiver: lkcore -> lkcore,
official -> official, lkcore -> official, official -> lkcore), alternating the pairs, each
pair's two processes alone on the machine with the devsfu CLI. Raw results go to OUT.jsonl.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import uuid
from typing import Dict, List, Tuple

SCENARIOS = ["rpc-100b", "rpc-1mib", "stream-1mib", "dt-1k-5k", "dt-100k"]
PAIRS = [("lkcore", "lkcore"), ("official", "official"), ("lkcore", "official"), ("official", "lkcore")]
HERE = os.path.dirname(os.path.abspath(__file__))


def token(bin_: str, key: str, secret: str, room: str, identity: str) -> str:
    return subprocess.check_output([bin_, "token", "--room", room, "--identity", identity, "--key", key, "--secret", secret], text=True, timeout=10).strip()


def run_pair(bin_: str, url: str, key: str, secret: str, scenario: str, snd: str, rcv: str) -> Tuple[dict, dict]:
    room = "cmp-" + uuid.uuid4().hex[:8]
    procs = []
    for sdk, role, me, other in [(rcv, "recv", "receiver", "sender"), (snd, "send", "sender", "receiver")]:
        tok = token(bin_, key, secret, room, me)
        procs.append(subprocess.Popen([sys.executable, os.path.join(HERE, "peer.py"), sdk, role, scenario, url, tok, other],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outs = []
    for p in procs:
        try:
            out, err = p.communicate(timeout=180)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise SystemExit(f"{scenario} {snd}->{rcv}: timed out")
        if p.returncode != 0:
            for q in procs:
                q.kill()
            raise SystemExit(f"{scenario} {snd}->{rcv}: a peer failed ({p.returncode}):\n{err[-3000:]}")
        outs.append(json.loads(out.strip().splitlines()[-1]))
    return outs[1], outs[0]  # sender, receiver


def main() -> None:
    rounds, bin_, url, key, secret, out_path = int(sys.argv[1]), *sys.argv[2:7]
    results: Dict[Tuple[str, str, str], List[Tuple[dict, dict]]] = {}
    with open(out_path, "w", encoding="utf-8") as out:
        for r in range(rounds):
            for scenario in SCENARIOS:
                pairs = PAIRS if r % 2 == 0 else list(reversed(PAIRS))
                for snd, rcv in pairs:
                    s, v = run_pair(bin_, url, key, secret, scenario, snd, rcv)
                    out.write(json.dumps({"round": r, "scenario": scenario, "sender": s, "receiver": v}) + "\n")
                    results.setdefault((scenario, snd, rcv), []).append((s, v))
                    print(f"round {r} {scenario} {snd}->{rcv}: sender {s} receiver {v}", file=sys.stderr, flush=True)
    med = lambda xs: statistics.median(xs) if xs else float("nan")  # noqa: E731

    def cell(scenario: str, snd: str, rcv: str) -> str:
        rs = results.get((scenario, snd, rcv), [])
        cpu = f"; CPU {med([s['cpu_s'] for s, _ in rs]):.2f} + {med([v['cpu_s'] for _, v in rs]):.2f} s"
        if scenario == "rpc-100b":
            return f"{med([s['p50_ms'] for s, _ in rs]):.2f} ms (p99 {med([s['p99_ms'] for s, _ in rs]):.2f})"
        if scenario == "rpc-1mib":
            return f"{med([s['p50_ms'] for s, _ in rs]):.1f} ms{cpu}"
        if scenario == "stream-1mib":
            return f"{med([v['p50_ms'] for _, v in rs]):.1f} ms{cpu}"
        if scenario == "dt-1k-5k":
            return (f"{med([v['per_s'] for _, v in rs]):,.0f}/s, lost {sum(v['lost'] for _, v in rs)} of {sum(v['sent'] for _, v in rs)}, "
                    f"p50 {med([v['lat_p50_ms'] for _, v in rs]):.2f} ms, p99 {med([v['lat_p99_ms'] for _, v in rs]):.1f} ms")
        return f"{med([v['mb_per_s'] for _, v in rs]):.1f} MB/s, lost {sum(v['lost'] for _, v in rs)} of {sum(v['sent'] for _, v in rs)}"

    label = {"rpc-100b": "RPC echo 100 B, p50", "rpc-1mib": "RPC echo 1 MiB base64, p50", "stream-1mib": "byte stream 1 MiB random, p50",
             "dt-1k-5k": "data track 1 KB at 5 000/s offered", "dt-100k": "data track 100 KB, as fast as taken"}
    print(f"\nMedians of {rounds} round(s); sender -> receiver. CPU: seconds of the sender's and the receiver's process "
          "over the scenario (12 echoes, 12 streams). Data tracks: the frames the sender's SDK took (the official SDK's "
          "try_push, retried while it refuses; lkcore's paced push) and those the receiver got whole; devsfu drops "
          "packets to a subscriber more than 100 ms behind, as livekit-server does.\n")
    print("| scenario | " + " | ".join(f"{s} -> {r}" for s, r in PAIRS) + " |")
    print("|---|" + "---|" * len(PAIRS))
    for sc in SCENARIOS:
        print(f"| {label[sc]} | " + " | ".join(cell(sc, s, r) for s, r in PAIRS) + " |")
    print("| peak RSS per process, MB (median over scenarios) | " + " | ".join(
        f"{med([s['peak_rss_mb'] for sc in SCENARIOS for s, _ in results.get((sc, a, b), [])]):.0f} / "
        f"{med([v['peak_rss_mb'] for sc in SCENARIOS for _, v in results.get((sc, a, b), [])]):.0f}" for a, b in PAIRS) + " |")


if __name__ == "__main__":
    main()
