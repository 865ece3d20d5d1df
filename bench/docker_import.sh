#!/usr/bin/env bash
# The Docker import of a real root filesystem (Debian 12 minbase from
# tests/debian/build.sh, ~240 MB ext4, ~6,700 files): `hearth run
# --backend docker --no-wait` with no image yet (the ext4 read with
# libext2fs and streamed as tar to the Engine, then the container
# started) against `tar -C MOUNT -c . | docker import -` of the same tree
# mounted read-only (mount not timed) and `docker run -d` of the result.
# Both images are removed after each run, so each run imports. Root.
# Median of N (default 5).
set -euo pipefail
cd "$(dirname "$0")/.."
B=${HEARTH_BUILD:-build}
N=${N:-5}
hearth=$PWD/$B/hearth
work=$(mktemp -d /tmp/hearth-bench.XXXXXX)
export HEARTH_STATE_DIR=$work/state
trap '"$hearth" rm -f bench >/dev/null 2>&1 || true; docker rm -f rawbench >/dev/null 2>&1 || true; umount "$work/mnt" 2>/dev/null || true; rm -rf "$work"' EXIT
. bench/lib.sh

tests/debian/build.sh "$B/guest/hearth-init" "$work/debian.ext4"
mkdir -p "$work/mnt"
mount -o loop,ro "$work/debian.ext4" "$work/mnt"

hearth_once() {
	local t0 t1 image
	t0=$(ms)
	"$hearth" run --backend docker --rootfs "$work/debian.ext4" --name bench --no-wait >/dev/null
	t1=$(ms)
	image=$(docker inspect -f '{{.Config.Image}}' hearth-bench)
	"$hearth" rm -f bench >/dev/null
	docker rmi "$image" >/dev/null
	echo $((t1 - t0))
}

raw_once() {
	local t0 t1 image
	t0=$(ms)
	image=$(tar -C "$work/mnt" -c . | docker import -)
	docker run -d --name rawbench --entrypoint /usr/sbin/init "$image" >/dev/null
	t1=$(ms)
	docker rm -f rawbench >/dev/null
	docker rmi "$image" >/dev/null
	echo $((t1 - t0))
}

compare "import and start of a Debian minbase rootfs" "hearth run --backend docker" "tar -c | docker import; run" \
	hearth_once raw_once
