#!/usr/bin/env bash
# Sourced by tests/suites/python.sh and the cross-language demo: prepares a pinned venv with the
# lkcore package installed and a private liblkcore.so. Expects $root (repo root) and $out (a
# build folder for the private library); sets $venv, $py and exports LKCORE_LIB. A caller may
# set py_venv (another venv folder) and py_extra_pkgs (an array of more pinned packages for it)
# first: tests/suites/interop.sh adds the official LiveKit SDK that way.
cd "$root"
venv="${py_venv:-$root/build/python-venv}"
mkdir -p "$out"

# Pinned Python tooling (reproducible generated code and test runs).
PIP_PKGS=(protobuf==7.36.2 grpcio-tools==1.85.1 setuptools==84.2.1 pytest==9.2.0 pytest-asyncio==1.5.0
  mypy==2.4.1 types-protobuf==7.35.1.20261122 ${py_extra_pkgs[@]+"${py_extra_pkgs[@]}"})

missing=()
command -v python3 >/dev/null 2>&1 || missing+=(python3)
command -v cc >/dev/null 2>&1 || missing+=(gcc)
if command -v python3 >/dev/null 2>&1 && ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  missing+=(python3-venv)
fi
bash "$root/tests/lib/apt-install.sh" ${missing[@]+"${missing[@]}"}

echo "--- python venv ($venv)"
# The venv is made again when the pins or the python3 on PATH change (its version and path).
stamp="$venv/.lkcore-pins"
want="$(command -v python3) $(python3 -c 'import sys; print(sys.version.split()[0])') ${PIP_PKGS[*]}"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q "${PIP_PKGS[@]}"
  echo "$want" >"$stamp"
fi
py="$venv/bin/python"

echo "--- building liblkcore.so"
# A private copy: other suites rebuilding build/liblkcore.so must not pull it from under us.
go build -buildmode=c-shared -trimpath -o "$out/liblkcore.so" ./capi
rm -f "$out/liblkcore.h"
export LKCORE_LIB="$out/liblkcore.so"

echo "--- installing the lkcore package (generates lkcore/_proto; bundles the library above)"
LKCORE_BUNDLE_LIB="$out/liblkcore.so" \
  "$py" -m pip install -q --no-build-isolation --no-deps --force-reinstall ./bindings/python
rm -rf bindings/python/build

