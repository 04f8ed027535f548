#!/usr/bin/env bash
# Multi-process data-track benchmark (part of ./build.sh bench): the devsfu CLI, one subscriber
# and one publisher (tests/bench/mpbench), each in its own process, over loopback — the shape of
# a real deployment, unlike the in-process Go benchmarks. One JSON line per scenario goes to
# build/bench/mp.jsonl; tests/bench/summary.py prints the table.
#
#   bash tests/bench/mp.sh [seconds per scenario, default 5]
#   MP_SFU_FLAGS="--dt-target-latency 0" bash tests/bench/mp.sh   (without the congestion gate
#                                       livekit-server applies, which the benchmark turns on)
#   MP_UDP_BATCHING=off bash tests/bench/mp.sh   (clients send and receive each UDP datagram on
#                                                its own, room.Options.DisableUDPBatching)
#   MP_SFU_FLAGS="--disable-udp-batching" bash tests/bench/mp.sh   (the SFU too)
#   MP_PROFILE=dir bash tests/bench/mp.sh   (CPU profiles: dir/pub-N.pprof, dir/sub-N.pprof per
#                                            scenario N, dir/devsfu.pprof for the whole run)
#
# Each process reports its CPU time and Go allocations over the measured interval ("proc" in the
# publisher's and subscriber's lines; the SFU's is read before and after each scenario with
# SIGUSR1, with its data-track packet counters), so the summary can show CPU-ms per delivered MB
# for each of the three processes.
#
# Scenarios: blocking Push of 1 KB, 16 KB and 100 KB frames as fast as it goes; TryPush of 1 KB
# frames at fixed offered rates (500, 1k, 5k, 10k frames/s).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
out="$root/build/bench"
mkdir -p "$out"
secs=${1:-5}

go build -o "$out/lkcore-devsfu" ./tests/devsfu/cmd/lkcore-devsfu
go build -o "$out/mpbench" ./tests/bench/mpbench

prof=${MP_PROFILE:-}
sfu_prof=()
if [ -n "$prof" ]; then
  mkdir -p "$prof"
  prof=$(cd "$prof" && pwd)
  sfu_prof=(--cpuprofile "$prof/devsfu.pprof")
fi
. tests/lib/devsfu.sh
# shellcheck disable=SC2086 # MP_SFU_FLAGS is a list of flags
devsfu_start "$out/lkcore-devsfu" "$out/mp-devsfu" --update-batch-interval 20ms --dt-target-latency 100ms \
  "${sfu_prof[@]}" ${MP_SFU_FLAGS:-}
sfu_out=$devsfu_out sfu_pid=$devsfu_pid url=$devsfu_url
mint() { devsfu_mint "$@"; }
# udp_drops: the kernel's count of UDP datagrams dropped because a socket's receive buffer was
# full (machine-wide, so other processes' drops count too): data-track packets are never
# retransmitted, so a drop here is a lost frame.
udp_drops() { awk '/^Udp:/ { if (++n == 2) print $6 }' /proc/net/snmp 2>/dev/null || echo 0; }
# sfu_proc: the SFU's cumulative CPU time and allocations (one JSON line), asked with SIGUSR1.
sfu_proc() {
  local lines
  lines=$(wc -l <"$sfu_out")
  kill -USR1 "$sfu_pid"
  for _ in $(seq 100); do
    [ "$(wc -l <"$sfu_out")" -gt "$lines" ] && { tail -n 1 "$sfu_out"; return 0; }
    sleep 0.02
  done
  echo "devsfu did not report its CPU time" >&2
  return 1
}

: >"$out/mp.jsonl"
n=0
# scenario <label> <pub flags...>
scenario() {
  local label=$1
  shift
  n=$((n + 1))
  local rm="mp-$n" subf="$out/mp-sub-$n.json" pubf="$out/mp-pub-$n.json"
  echo "--- $label"
  local subprof=() pubprof=() sfu0 sfu1
  [ -z "$prof" ] || { subprof=(-cpuprofile "$prof/sub-$n.pprof"); pubprof=(-cpuprofile "$prof/pub-$n.pprof"); }
  sfu0=$(sfu_proc)
  udp0=$(udp_drops)
  "$out/mpbench" sub -url "$url" -token "$(mint "$rm" sub)" "${subprof[@]}" >"$subf" 2>"$out/mp-sub-$n.err" &
  local sub_pid=$!
  if ! "$out/mpbench" pub -url "$url" -token "$(mint "$rm" pub)" -seconds "$secs" "${pubprof[@]}" "$@" >"$pubf" 2>"$out/mp-pub-$n.err"; then
    echo "publisher failed: $(cat "$out/mp-pub-$n.err")" >&2
    kill "$sub_pid" 2>/dev/null || true
    wait "$sub_pid" 2>/dev/null || true
    return 1
  fi
  if ! wait "$sub_pid"; then
    echo "subscriber failed: $(cat "$out/mp-sub-$n.err")" >&2
    return 1
  fi
  sfu1=$(sfu_proc)
  udp1=$(udp_drops)
  python3 - "$label" "$pubf" "$subf" "$sfu0" "$sfu1" "$udp0" "$udp1" <<'PY' | tee -a "$out/mp.jsonl"
import json, sys
label, pubf, subf, sfu0, sfu1, udp0, udp1 = sys.argv[1:8]
pub = json.loads(open(pubf).read().strip().splitlines()[-1])
sub = json.loads(open(subf).read().strip().splitlines()[-1])
s0, s1 = json.loads(sfu0), json.loads(sfu1)
a, b = s0["proc"], s1["proc"]
sfu = {k: b[k] - a[k] for k in a}
# The SFU's data-track packets over the scenario: in from the publisher, out to the subscriber,
# dropped by its congestion gate (a lost frame is then attributed to a hop).
sfu["dt"] = {k: s1["dt"][k] - s0["dt"][k] for k in s0["dt"]}
sfu["cpu_ms"] = sfu["cpu_user_ms"] + sfu["cpu_sys_ms"]
# CPU-ms per delivered MB for each process (the SFU's covers the whole scenario, handshakes included).
mb = sub.get("bytes", 0) / 1e6
cpu_per_mb = {k: round(p["cpu_ms"] / mb, 2) if mb else None
              for k, p in (("pub", pub.get("proc", {"cpu_ms": 0})), ("sub", sub.get("proc", {"cpu_ms": 0})), ("sfu", sfu))}
udp = int(udp1 or 0) - int(udp0 or 0)
print(json.dumps({"scenario": label, "pub": pub, "sub": sub, "sfu": sfu, "cpu_ms_per_mb": cpu_per_mb,
                  "udp_rcvbuf_drops": udp}))
PY
}

scenario "push 1 KB" -size 1000
scenario "push 16 KB" -size 16000
scenario "push 100 KB" -size 100000
scenario "trypush 1 KB @500/s" -size 1000 -rate 500
scenario "trypush 1 KB @1k/s" -size 1000 -rate 1000
scenario "trypush 1 KB @5k/s" -size 1000 -rate 5000
scenario "trypush 1 KB @10k/s" -size 1000 -rate 10000

# Large payloads (tests/bench/mpbench rpc.go, stream.go): RPC echo and data streams of 1 MiB,
# one operation at a time, between two processes through the SFU. One JSON line per scenario goes
# to build/bench/mp-large.jsonl: latency p50/p99 and, per operation, CPU time and allocations of
# each process (and the SFU's CPU time). With MP_PROFILE=dir, CPU profiles of the measured span
# go to dir/<role>-N.pprof.
: >"$out/mp-large.jsonl"
# large <label> <passive role> <measuring role> <measuring flags...>
large() {
  local label=$1 passive=$2 active=$3
  shift 3
  n=$((n + 1))
  local rm="mp-$n" pf="$out/mp-large-$n-b.json" af="$out/mp-large-$n-a.json"
  echo "--- $label"
  local pprof=() aprof=()
  [ -z "$prof" ] || { pprof=(-cpuprofile "$prof/$passive-$n.pprof"); aprof=(-cpuprofile "$prof/$active-$n.pprof"); }
  "$out/mpbench" "$passive" -url "$url" -token "$(mint "$rm" peer)" "${pprof[@]}" >"$pf" 2>"$out/mp-large-$n-b.err" &
  local p_pid=$!
  if ! "$out/mpbench" "$active" -url "$url" -token "$(mint "$rm" active)" -peer peer -sfu-pid "$sfu_pid" "${aprof[@]}" "$@" \
    >"$af" 2>"$out/mp-large-$n-a.err"; then
    echo "$active failed: $(cat "$out/mp-large-$n-a.err")" >&2
    kill "$p_pid" 2>/dev/null || true
    wait "$p_pid" 2>/dev/null || true
    return 1
  fi
  if ! wait "$p_pid"; then
    echo "$passive failed: $(cat "$out/mp-large-$n-b.err")" >&2
    return 1
  fi
  python3 - "$label" "$af" "$pf" <<'PY' | tee -a "$out/mp-large.jsonl"
import json, sys
label, af, pf = sys.argv[1:4]
a = json.loads(open(af).read().strip().splitlines()[-1])
b = json.loads(open(pf).read().strip().splitlines()[-1])
print(json.dumps({"scenario": label, "a": a, "b": b}))
PY
}

large "RPC echo 1 MiB random" rpc-callee rpc-caller -size 1048576 -n 20 -payload random
large "RPC echo 1 MiB text" rpc-callee rpc-caller -size 1048576 -n 20 -payload text
large "byte stream 1 MiB random" stream-recv stream-send -kind bytes -size 1048576 -n 20 -payload random
large "byte stream 1 MiB text" stream-recv stream-send -kind bytes -size 1048576 -n 20 -payload text
large "text stream 1 MiB random" stream-recv stream-send -kind text -size 1048576 -n 20 -payload random
large "text stream 1 MiB text" stream-recv stream-send -kind text -size 1048576 -n 20 -payload text
