#!/usr/bin/env bash
# Sourced by tests/suites/kotlin.sh. armhf_jvm DIR: prepares a 32-bit ARM (armhf) Java runtime
# that runs under qemu's user-mode emulation, and sets ARMHF_ROOT and ARMHF_JAVA: run it as
# `qemu-arm -L "$ARMHF_ROOT" "$ARMHF_JAVA" ...`.
#
# Debian's own packages, unpacked (not installed) into DIR/root, which qemu-arm uses as the
# emulated program's root for its loader and libraries: openjdk-17-jre-headless and the
# libraries a headless JVM loads (libc6, libgcc-s1, libstdc++6, zlib1g), all :armhf. Fetching
# them needs the armhf package lists: the architecture is added to dpkg's foreign ones (which
# installs nothing) and apt's lists are refreshed once. qemu-user is installed when missing.
# Done once per DIR (DIR/.complete).
armhf_jvm() {
  local dir=$1 root=$1/root pkgs="openjdk-17-jre-headless libc6 libgcc-s1 libstdc++6 zlib1g"
  local here
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  command -v qemu-arm >/dev/null 2>&1 || bash "$here/apt-install.sh" qemu-user
  if [ ! -e "$dir/.complete" ]; then
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    if ! dpkg --print-foreign-architectures | grep -qx armhf; then
      $sudo dpkg --add-architecture armhf
      $sudo apt-get update -qq
    elif ! apt-cache show openjdk-17-jre-headless:armhf >/dev/null 2>&1; then
      $sudo apt-get update -qq
    fi
    rm -rf "$dir"
    mkdir -p "$dir/debs" "$root"
    local p args=()
    for p in $pkgs; do args+=("$p:armhf"); done
    # apt-get download writes as the invoking user into the current directory.
    (cd "$dir/debs" && apt-get download -qq "${args[@]}" 2>&1 | grep -v "couldn't be accessed by user '_apt'" || true)
    local n
    n=$(find "$dir/debs" -name '*_armhf.deb' | wc -l)
    if [ "$n" -ne 5 ]; then
      echo "armhf-jvm: expected 5 packages in $dir/debs, got $n" >&2
      return 1
    fi
    local f
    for f in "$dir"/debs/*.deb; do dpkg -x "$f" "$root"; done
    touch "$dir/.complete"
  fi
  local java
  java=$(echo "$root"/usr/lib/jvm/java-17-openjdk-armhf/bin/java)
  [ -x "$java" ] || { echo "armhf-jvm: no java in $root" >&2; return 1; }
  ARMHF_ROOT=$root
  ARMHF_JAVA=$java
}
