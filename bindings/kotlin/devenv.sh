#!/usr/bin/env bash
# Sourced by tests/suites/kotlin.sh, the Kotlin demo and the Kotlin benchmark. Expects $root
# (repository root). Installs Maven and a JDK if missing (Debian packages), builds a private
# liblkcore.so under build/kotlin (other suites rebuilding build/liblkcore.so must not pull it
# from under a running JVM) and exports LKCORE_LIB. Defines:
#   kt_mvn ARGS...      mvn in batch mode (Maven downloads its own dependencies on first use)
#   kt_start_devsfu     builds and starts lkcore-devsfu on a free loopback port with the
#                       fault-injection endpoints, and wss:// on a second one (--tls-ca-out);
#                       exports LKCORE_DEVSFU_URL/BIN/KEY/SECRET, LKCORE_DEVSFU_TLS_URL (its
#                       wss:// URL) and LKCORE_DEVSFU_TLS_CA (the PEM file of the CA that signed its
#                       certificate) and stops it when the sourcing shell exits
kt_out="$root/build/kotlin"
mkdir -p "$kt_out"

kt_missing=()
command -v mvn >/dev/null 2>&1 || kt_missing+=(maven)
command -v javac >/dev/null 2>&1 || kt_missing+=(openjdk-17-jdk-headless)
command -v cc >/dev/null 2>&1 || kt_missing+=(gcc)
bash "$root/tests/lib/apt-install.sh" ${kt_missing[@]+"${kt_missing[@]}"}

kt_mvn() {
  mvn -B -ntp "$@"
}

echo "--- building liblkcore.so (private copy for the JVM)"
(cd "$root" && go build -buildmode=c-shared -trimpath -o "$kt_out/liblkcore.so" ./capi)
rm -f "$kt_out/liblkcore.h"
export LKCORE_LIB="$kt_out/liblkcore.so"

kt_sfu_pid=""
kt_stop_devsfu() {
  if [ -n "$kt_sfu_pid" ] && kill -0 "$kt_sfu_pid" 2>/dev/null; then
    kill -TERM "$kt_sfu_pid" 2>/dev/null || true
    wait "$kt_sfu_pid" 2>/dev/null || true
  fi
  kt_sfu_pid=""
}

kt_start_devsfu() {
  if ! compgen -G "$root/tests/devsfu/cmd/lkcore-devsfu/*.go" >/dev/null; then
    # The server tests need it: a missing command is a failure, never a reason to skip them.
    echo "tests/devsfu/cmd/lkcore-devsfu not found: cannot run the server tests" >&2
    return 1
  fi
  echo "--- building and starting lkcore-devsfu"
  (cd "$root" && go build -o "$kt_out/lkcore-devsfu" ./tests/devsfu/cmd/lkcore-devsfu)
  local key=ktkey secret=kt-secret-kt-secret-kt-secret-0123 first="$kt_out/devsfu.out" line url tls_url
  local ca="$kt_out/devsfu-ca.pem"
  rm -f "$first" "$ca"
  # --control: fault-injection endpoints (reconnect tests); a short participant-update batch
  # period, connection-quality rating period and speaker update period keep the suite fast
  # (livekit-server batches every 3 s, rates every 5 s and sends speaker updates every 400 ms);
  # --enable-data-blob: it stores data-track schema definitions
  # (as livekit-server with enable_participant_data_blob); --region: the region it names in
  # the join response's server info (as livekit-server's region setting, LiveKit Cloud's
  # region), which RoomInfo.server reports (RoomTest); --tls-ca-out: the same server also serves
  # wss:// on a second loopback port, with a certificate for 127.0.0.1 signed by a CA it makes at
  # start and writes (PEM) to that file (RoomOptions.tlsRootCertificatesPem, TlsRootsTest).
  # Port 0: the listener picks a free port and the first output line (JSON) has the URLs.
  "$kt_out/lkcore-devsfu" --addr 127.0.0.1:0 --key "$key" --secret "$secret" \
    --control --update-batch-interval 100ms --connection-quality-interval 200ms --speaker-update-interval 50ms --enable-data-blob \
    --region test-region --tls-ca-out "$ca" >"$first" 2>"$kt_out/devsfu.log" &
  kt_sfu_pid=$!
  trap kt_stop_devsfu EXIT
  for _ in $(seq 1 100); do
    [ -s "$first" ] && break
    kill -0 "$kt_sfu_pid" 2>/dev/null || { cat "$kt_out/devsfu.log" >&2; echo "lkcore-devsfu exited" >&2; return 1; }
    sleep 0.1
  done
  line=$(head -n1 "$first")
  url=$(printf '%s' "$line" | sed -n 's/.*"url":"\([^"]*\)".*/\1/p')
  [ -n "$url" ] || { echo "lkcore-devsfu printed no URL: $line" >&2; return 1; }
  tls_url=$(printf '%s' "$line" | sed -n 's/.*"tls_url":"\([^"]*\)".*/\1/p')
  [ -n "$tls_url" ] || { echo "lkcore-devsfu printed no tls_url: $line" >&2; return 1; }
  [ -s "$ca" ] || { echo "lkcore-devsfu wrote no CA to $ca" >&2; return 1; }
  export LKCORE_DEVSFU_URL="$url" LKCORE_DEVSFU_BIN="$kt_out/lkcore-devsfu"
  export LKCORE_DEVSFU_KEY="$key" LKCORE_DEVSFU_SECRET="$secret"
  export LKCORE_DEVSFU_TLS_URL="$tls_url" LKCORE_DEVSFU_TLS_CA="$ca"
  echo "devsfu at $url and $tls_url (CA $ca)"
}
