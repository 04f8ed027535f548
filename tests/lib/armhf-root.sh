#!/usr/bin/env bash
# Sourced by tests/suites/kotlin.sh and tests/suites/python-install.sh, which run the bindings in
# 32-bit ARM (armhf) programs under qemu's user-mode emulation: a Java runtime and a Python.
#
# armhf_root DIR PACKAGE...: Debian's armhf builds of the packages, unpacked (not installed)
# into DIR/root, which `qemu-arm -L DIR/root` uses as the emulated program's root for its loader
# and libraries; sets ARMHF_ROOT. The packages are named one by one (apt resolves no
# dependencies here): a program's own libraries and those it loads. Fetching them needs the
# armhf package lists: the architecture is added to dpkg's foreign ones (which installs nothing)
# and apt's lists are refreshed once. qemu-user is installed when missing. Done once per DIR and
# package list (DIR/.complete holds the list).
armhf_root() {
  local dir=$1
  shift
  local here want
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  want="$*"
  command -v qemu-arm >/dev/null 2>&1 || bash "$here/apt-install.sh" qemu-user
  if [ "$(cat "$dir/.complete" 2>/dev/null)" != "$want" ]; then
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    if ! dpkg --print-foreign-architectures | grep -qx armhf; then
      $sudo dpkg --add-architecture armhf
      $sudo apt-get update -qq
    elif ! apt-cache show "$1:armhf" >/dev/null 2>&1; then
      $sudo apt-get update -qq
    fi
    rm -rf "$dir"
    mkdir -p "$dir/debs" "$dir/root"
    local p args=()
    for p in "$@"; do args+=("$p:armhf"); done
    # apt-get download writes as the invoking user into the current directory (apt's sandbox
    # user may not, and says so).
    (cd "$dir/debs" && apt-get download -qq "${args[@]}" 2>&1 | grep -v "couldn't be accessed by user '_apt'" || true)
    local n f
    n=$(find "$dir/debs" -name '*_armhf.deb' | wc -l)
    if [ "$n" -ne $# ]; then
      echo "armhf_root: expected $# packages in $dir/debs, got $n" >&2
      return 1
    fi
    for f in "$dir"/debs/*.deb; do dpkg -x "$f" "$dir/root"; done
    echo "$want" >"$dir/.complete"
  fi
  ARMHF_ROOT=$dir/root
}
