#!/usr/bin/env bash
# apt-install.sh PKG...: installs the named Debian packages (as root, or through sudo), quietly.
# The build and test scripts decide what is missing and call this for it.
set -euo pipefail
[ $# -gt 0 ] || exit 0
echo "installing Debian packages: $*"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
