#!/usr/bin/env bash
# Installs the Debian packages SAGE needs to build and run, when they are missing.
# Used by `make deps` (and so by `make run` / `make test`), and meant for preparing
# every machine of a cluster the same way.
#
#   cluster/install-deps.sh            check and install the default package set
#   cluster/install-deps.sh PKG...     check and install these packages instead
#
# As root, missing packages are installed with apt-get, non-interactively. Otherwise the
# script prints the command to run and exits with status 1.
set -euo pipefail

default_packages=(build-essential cmake ninja-build ccache pkg-config libcaf-dev capnproto
                  libcapnp-dev libssl-dev openssl iproute2 libspdlog-dev libfmt-dev doctest-dev libcli11-dev python3 libyaml-cpp-dev libtomlplusplus-dev nlohmann-json3-dev)
packages=("$@")
[ ${#packages[@]} -gt 0 ] || packages=("${default_packages[@]}")

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "install-deps: dpkg-query not found (not a Debian system?); install by hand: ${packages[*]}"
  exit 0
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all required packages are installed"
  exit 0
fi

echo "install-deps: missing Debian packages: ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
else
  echo "install-deps: run as root:"
  echo "  sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y ${missing[*]}"
  exit 1
fi
