#!/usr/bin/env bash
# Python packaging suite (run by ./build.sh test): installs the lkcore package the way a new
# user would, from a clean copy of the repository (the tracked files only: nothing generated,
# no library built beforehand), into fresh venvs, and proves each install imports lkcore and
# connects to the devsfu CLI with no environment variable (the wheel bundles liblkcore.so).
#
#   1. pip install ./bindings/python                       (build isolation)
#   2. pip install --no-build-isolation ./bindings/python  (build requirements installed first)
#   3. python -m build: an sdist carrying the Go sources, and a py3-none-<platform> wheel built
#      from that sdist alone, holding liblkcore.so
#   4. a wheel for another machine: LKCORE_BUNDLE_LIB naming the armv7 cross build is tagged
#      linux_armv7l (from the library's ELF header), and a --plat-name contradicting it is refused
#   5. that armv7 wheel installed for Debian's 32-bit ARM Python, which runs under qemu-arm: two
#      rooms, a data track both ways of pushing, a 200 kB RPC echo (tests/lib/armhf-root.sh
#      fetches the interpreter's packages)
#
# Step 1 runs beside steps 2 and 3, from its own copy of the repository: most of the time is
# pip and venv creation on one core each. Its output is shown when it is awaited.
#
#   bash tests/suites/python-install.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
out="$root/build/python-install"

missing=()
command -v python3 >/dev/null 2>&1 || missing+=(python3)
command -v cc >/dev/null 2>&1 || missing+=(gcc)
command -v git >/dev/null 2>&1 || missing+=(git)
if command -v python3 >/dev/null 2>&1 && ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  missing+=(python3-venv)
fi
bash "$root/tests/lib/apt-install.sh" ${missing[@]+"${missing[@]}"}

# Build requirements of bindings/python/pyproject.toml, pinned for the no-isolation install.
BUILD_PKGS=(setuptools==84.2.1 grpcio-tools==1.85.1 build==1.6.1)

sfu_pid=""
source "$root/tests/lib/background.sh"
cleanup() {
  background_stop
  if [ -n "$sfu_pid" ] && kill -0 "$sfu_pid" 2>/dev/null; then
    kill -TERM "$sfu_pid" 2>/dev/null || true
    wait "$sfu_pid" 2>/dev/null || true
  fi
  rm -rf "$out"
}
trap cleanup EXIT
rm -rf "$out"
mkdir -p "$out"

echo "--- clean copies of the repository (git ls-files): one for step 1, one for steps 2 and 3"
src="$out/src"
src1="$out/src1"
for d in "$src" "$src1"; do
  mkdir -p "$d"
  git ls-files -z | tar --null -T - -cf - | tar -xf - -C "$d"
  if [ -e "$d/bindings/python/lkcore/_proto" ] || [ -e "$d/bindings/python/lkcore/liblkcore.so" ]; then
    echo "the clean copy already holds generated files" >&2
    exit 1
  fi
done

echo "--- building and starting lkcore-devsfu"
go build -o "$out/lkcore-devsfu" ./tests/devsfu/cmd/lkcore-devsfu
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
key=installkey
secret=install-secret-install-secret-0123
"$out/lkcore-devsfu" --addr "127.0.0.1:$port" --key "$key" --secret "$secret" >"$out/devsfu.out" 2>"$out/devsfu.log" &
sfu_pid=$!
for _ in $(seq 1 100); do
  [ -s "$out/devsfu.out" ] && break
  kill -0 "$sfu_pid" 2>/dev/null || { cat "$out/devsfu.log" >&2; echo "lkcore-devsfu exited" >&2; exit 1; }
  sleep 0.1
done
url=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["url"])' "$(head -n1 "$out/devsfu.out")")
token() { "$out/lkcore-devsfu" token --room install --identity "$1" --key "$key" --secret "$secret"; }

# check <venv> <identity>: imports lkcore from the venv (outside the source tree, without
# LKCORE_LIB), checks the library is the bundled one and joins the room.
check() {
  local venv=$1 identity=$2
  (cd / && env -u LKCORE_LIB -u PYTHONPATH "$venv/bin/python" - "$url" "$(token "$identity")" "$identity" <<'EOF'
import asyncio, os, sys
import lkcore

url, token, identity = sys.argv[1:4]
pkg = os.path.dirname(lkcore.__file__)
lib = lkcore.load_library()
assert os.path.dirname(os.path.realpath(lib.path)) == os.path.realpath(pkg), (lib.path, pkg)
assert "site-packages" in pkg, pkg

async def main() -> None:
    async with lkcore.Room() as room:
        await asyncio.wait_for(room.connect(url, token), 20)
        assert room.local_participant.identity == identity
        assert room.connection_state == lkcore.ConnectionState.CONNECTED
    print(f"ok: {identity} connected with {lib.path} (ABI {lkcore.abi_version()})")

asyncio.run(main())
EOF
  )
}

step1() {
  echo "--- 1. pip install ./bindings/python (build isolation) into a fresh venv"
  python3 -m venv "$out/venv-isolated"
  "$out/venv-isolated/bin/python" -m pip install -q "$src1/bindings/python"
  check "$out/venv-isolated" isolated
}
export out src1 url key secret
export -f token check
background step1 "$out" step1

echo "--- 2. pip install --no-build-isolation ./bindings/python into a fresh venv"
python3 -m venv "$out/venv-noiso"
"$out/venv-noiso/bin/python" -m pip install -q "${BUILD_PKGS[@]}"
"$out/venv-noiso/bin/python" -m pip install -q --no-build-isolation "$src/bindings/python"
check "$out/venv-noiso" no-isolation
rm -rf "$src/bindings/python/build" "$src/bindings/python/lkcore.egg-info" "$src/bindings/python/lkcore/_proto"

echo "--- 3. python -m build (sdist, then a wheel from the sdist)"
"$out/venv-noiso/bin/python" -m build -o "$out/dist" "$src/bindings/python" >"$out/build.log" 2>&1 || {
  tail -40 "$out/build.log" >&2; exit 1; }
"$out/venv-noiso/bin/python" - "$out/dist" <<'EOF'
import glob, sys, tarfile, zipfile
dist = sys.argv[1]
(sdist,) = glob.glob(f"{dist}/lkcore-*.tar.gz")
(wheel,) = glob.glob(f"{dist}/lkcore-*.whl")
assert "-py3-none-" in wheel and not wheel.endswith("-any.whl"), wheel
names = tarfile.open(sdist).getnames()
for need in ("_gosrc/go.mod", "_gosrc/go.sum", "_gosrc/capi/proto/lkcore_ffi.proto", "_gosrc/include/lkcore.h",
             "lkcore/_proto/lkcore_ffi_pb2.py", "lkcore_build.py", "setup.py"):
    assert any(n.endswith("/" + need) for n in names), f"sdist lacks {need}"
assert not any(n.endswith("_test.go") for n in names), "sdist carries Go tests"
wnames = zipfile.ZipFile(wheel).namelist()
for need in ("lkcore/liblkcore.so", "lkcore/_proto/lkcore_ffi_pb2.py", "lkcore/py.typed"):
    assert need in wnames, f"wheel lacks {need}"
print(f"ok: {sdist.rsplit('/', 1)[1]} ({len(names)} files), {wheel.rsplit('/', 1)[1]}")
EOF
python3 -m venv "$out/venv-wheel"
"$out/venv-wheel/bin/python" -m pip install -q "$out"/dist/lkcore-*.whl
check "$out/venv-wheel" from-wheel

echo "--- 4. a wheel for another machine (LKCORE_BUNDLE_LIB: the armv7 build of ./build.sh lib linux-armv7)"
./build.sh lib linux-armv7 >"$out/lib-armv7.log" 2>&1 || { tail -20 "$out/lib-armv7.log" >&2; exit 1; }
arm="$root/build/linux-armv7/liblkcore.so"
rm -rf "$src/bindings/python/build"
LKCORE_BUNDLE_LIB="$arm" "$out/venv-noiso/bin/python" -m pip wheel -q --no-build-isolation --no-deps \
  -w "$out/dist-armv7" "$src/bindings/python"
"$out/venv-noiso/bin/python" - "$out/dist-armv7" "$arm" <<'EOF'
import glob, sys, zipfile
(wheel,) = glob.glob(f"{sys.argv[1]}/lkcore-*.whl")
assert wheel.endswith("-py3-none-linux_armv7l.whl"), wheel
z = zipfile.ZipFile(wheel)
(meta,) = [n for n in z.namelist() if n.endswith(".dist-info/WHEEL")]
assert "Tag: py3-none-linux_armv7l" in z.read(meta).decode().splitlines(), z.read(meta)
assert z.read("lkcore/liblkcore.so") == open(sys.argv[2], "rb").read(), "the wheel holds another library"
print(f"ok: {wheel.rsplit('/', 1)[1]}")
EOF
rm -rf "$src/bindings/python/build"
if LKCORE_BUNDLE_LIB="$arm" "$out/venv-noiso/bin/python" -m pip wheel -q --no-build-isolation --no-deps \
  -w "$out/dist-mislabelled" -C--build-option=--plat-name=linux_x86_64 "$src/bindings/python" >"$out/mislabelled.log" 2>&1; then
  echo "a wheel tagged linux_x86_64 holding the armv7 library was built" >&2
  exit 1
fi
grep -q "does not match its library, built for armv7l" "$out/mislabelled.log" || { cat "$out/mislabelled.log" >&2; exit 1; }
echo "ok: --plat-name linux_x86_64 with the armv7 library refused"

echo "--- 5. that wheel in a 32-bit ARM Python (Debian's python3.11 for armhf, under qemu-arm)"
source "$root/tests/lib/armhf-root.sh"
armhf_root "$root/build/armhf-python" python3.11-minimal libpython3.11-minimal libpython3.11-stdlib \
  libc6 libgcc-s1 libffi8 libexpat1 zlib1g libssl3 libbz2-1.0 liblzma5 libuuid1 libcrypt1
# Installed for that interpreter by the host's pip (its dependency, protobuf, as the pure-Python
# wheel): the files are the same on any machine.
"$out/venv-noiso/bin/python" -m pip install -q --target "$out/armhf-site" --platform linux_armv7l \
  --python-version 3.11 --only-binary=:all: "$out"/dist-armv7/lkcore-*.whl
(cd / && env -u LKCORE_LIB PYTHONPATH="$out/armhf-site" qemu-arm -L "$ARMHF_ROOT" "$ARMHF_ROOT/usr/bin/python3.11" - \
  "$url" "$(token arm-alice)" "$(token arm-bob)" "$out/armhf-site" <<'EOF'
import asyncio, ctypes, os, sys
import lkcore

url, token_a, token_b, site = sys.argv[1:5]

async def main() -> None:
    async with lkcore.Room() as bob, lkcore.Room() as alice:
        @bob.register_rpc_method("echo")
        async def echo(data: lkcore.RpcInvocationData) -> str:
            return data.payload

        published: "asyncio.Future[lkcore.RemoteDataTrack]" = asyncio.get_running_loop().create_future()
        bob.on("data_track_published", lambda t: published.done() or published.set_result(t))
        await asyncio.wait_for(bob.connect(url, token_b), 60)
        await asyncio.wait_for(alice.connect(url, token_a), 60)
        track = await alice.local_participant.publish_data_track("probe")
        sub = await (await asyncio.wait_for(published, 60)).subscribe(buffer_size=8)
        track.try_push(b"\x01" * 1000, user_timestamp=11)
        await track.push(b"\x02" * 70000, user_timestamp=0x100000002)
        frames = [await asyncio.wait_for(sub.read(), 60) for _ in range(2)]
        assert [(len(f.payload), f.user_timestamp) for f in frames] == [(1000, 11), (70000, 0x100000002)], frames
        assert frames[0].payload == b"\x01" * 1000 and frames[1].payload == b"\x02" * 70000
        big = "x" * 200000
        assert await alice.local_participant.perform_rpc("arm-bob", "echo", big, response_timeout=60) == big

asyncio.run(main())
lib = lkcore.load_library().path
assert ctypes.sizeof(ctypes.c_void_p) == 4 and os.path.realpath(lib).startswith(os.path.realpath(site)), lib
print(f"ok: a 32-bit ARM Python ({ctypes.sizeof(ctypes.c_size_t)}-byte size_t) with {lib}: data track, RPC")
EOF
)

await step1 || { echo "step 1 failed" >&2; exit 1; }
cat "$out/step1.log"
echo "python-install: all checks passed"
