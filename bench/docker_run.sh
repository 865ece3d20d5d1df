#!/usr/bin/env bash
# start_to_ready on Docker: `hearth run --backend docker` of the hello
# guest (it returns on the "hearth-init: ready" log line) against
# `docker run -d` of the same image with the same flags, timed to the same
# log line. Median of N (5) each, and the ratio. Also the import of the
# hello rootfs (ext4 -> tar stream -> image), image removed before each.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${HEARTH_BUILD:-build}
N=${N:-5}
hearth=$PWD/$B/hearth
rootfs=$PWD/$B/guest/hello.ext4
work=$(mktemp -d /tmp/hearth-dbench.XXXXXX)
export HEARTH_STATE_DIR=$work/state
trap 'docker rm -f bench-raw >/dev/null 2>&1; "$hearth" rm -f bench >/dev/null 2>&1; rm -rf "$work"' EXIT

. bench/lib.sh

"$hearth" run --backend docker --rootfs "$rootfs" --name bench >/dev/null # imports once
image=$(docker inspect hearth-bench --format '{{.Config.Image}}')
"$hearth" rm -f bench >/dev/null
mkdir -p "$work/config" "$work/secrets"
chmod 0700 "$work/secrets"

hearth_once() {
	local t0=$(ms)
	"$hearth" run --backend docker --rootfs "$rootfs" --name bench -p 18099:80 --memory 512 --cpus 2 >/dev/null
	echo $(($(ms) - t0))
	"$hearth" rm -f bench >/dev/null
}
raw_once() {
	local t0=$(ms)
	docker run -d --name bench-raw --hostname bench --entrypoint /sbin/init -e HEARTH_NAME=bench \
		-e HEARTH_CONTAINER=1 -e HEARTH_VOLUMES= -p 127.0.0.1:18099:80 --memory 512m --cpus 2 \
		-v "$work/config:/mnt/config:ro" -v "$work/secrets:/mnt/secrets:ro" "$image" >/dev/null
	until docker logs bench-raw 2>&1 | grep -q 'hearth-init: ready'; do sleep 0.005; done
	echo $(($(ms) - t0))
	docker rm -f bench-raw >/dev/null
}
compare "start_to_ready on docker" "hearth run --backend docker" "docker run -d + log poll" hearth_once raw_once

i=()
for _ in $(seq 1 "$N"); do
	docker rmi -f "$image" >/dev/null
	t0=$(ms)
	"$hearth" run --backend docker --rootfs "$rootfs" --name bench --no-wait >/dev/null
	t1=$(ms)
	"$hearth" rm -f bench >/dev/null
	t2=$(ms)
	"$hearth" run --backend docker --rootfs "$rootfs" --name bench --no-wait >/dev/null
	t3=$(ms)
	"$hearth" rm -f bench >/dev/null
	i+=($(((t1 - t0) - (t3 - t2))))
done
echo "import of $(du -h "$rootfs" | cut -f1) hello.ext4 (run with import minus run without): median $(printf '%s\n' "${i[@]}" | median) ms  (${i[*]})"
