#!/usr/bin/env bash
# Install the Debian packages lattice-agent needs to build and test.
# Idempotent and quiet when everything is already there.
set -euo pipefail

packages=(
	# build
	build-essential meson ninja-build pkg-config
	libevent-dev libcurl4-openssl-dev libjansson-dev libssl-dev
	# tests
	libcmocka-dev python3 openssl valgrind nftables iproute2 util-linux
	# fuzzing (libFuzzer) and static analysis
	clang libclang-rt-14-dev cppcheck clang-tidy
	# linters for the man page, init scripts and unit
	mandoc shellcheck systemd man-db
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
	    grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
