#!/usr/bin/env bash
# Installs every Debian 12 package hearth needs to build, run and test,
# then builds everything (kernel and hello guest included). With --demo
# it also runs the demo. Run as root: sudo scripts/setup.sh --demo
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
	# build
	build-essential pkg-config libjansson-dev libcmocka-dev libcurl4-openssl-dev libarchive-dev libext2fs-dev libmnl-dev
	# the guest kit: kernel from Debian's source, busybox, ext4 images
	linux-source-6.1 bc bison flex libelf-dev libssl-dev cpio xz-utils busybox-static e2fsprogs file
	# the QEMU, Docker and microvm-nix backends (nix for hearth build)
	qemu-system-x86 qemu-utils docker.io nix-bin
	# bridge networking (ip for the tests' namespaces, iptables for HEARTH_NAT)
	iproute2 iptables
	# OCI image tests: a real registry on 127.0.0.1, skopeo to push to it,
	# htpasswd for its login, zstd for a zstd layer
	docker-registry skopeo apache2-utils zstd openssl
	# bench/images.sh's hand pipeline
	umoci
	# tests (clang and its runtime for the libFuzzer targets)
	curl socat python3 python3-yaml valgrind procps clang libclang-rt-14-dev
	# a real Debian rootfs for the tests (from the mirror apt already uses)
	debootstrap
	# the soak (bench/soak.sh); bench/warm.sh's plot
	jq gnuplot-nox
)

if [ "$(id -u)" != 0 ]; then
	echo "setup.sh: error: run as root (sudo scripts/setup.sh)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	apt-get update -q
	apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
make -j"$(nproc)"
if [ "${1:-}" = --demo ]; then
	make demo
fi
