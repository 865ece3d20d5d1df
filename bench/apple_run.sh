#!/usr/bin/env bash
# start_to_ready on apple-container, against tests/apple/container (the
# double of Apple's `container` that runs guests under dockerd): `hearth
# run --backend apple-container` of the hello guest (which returns on the
# "hearth-init: ready" log line) against `container run --detach` of the
# same loaded image with the same flags, polled with `container logs` to
# the same line. Median of N (5) each, and the ratio: hearth's own share
# over the tool. What the double costs (Python, docker) is in both; on a
# Mac the tool's own VM boot would be.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${HEARTH_BUILD:-build}
N=${N:-5}
hearth=$PWD/$B/hearth
rootfs=$PWD/$B/guest/hello.ext4
work=$(mktemp -d /tmp/hearth-abench.XXXXXX)
export HEARTH_STATE_DIR=$work/state CONTAINER_DOUBLE_ROOT=$work/double
export PATH=$PWD/tests/apple:$PATH
trap 'container delete --force bench-raw >/dev/null 2>&1 || true; "$hearth" rm -f bench >/dev/null 2>&1 || true
	docker ps -aq --filter "label=hearth.test.apple-double=$CONTAINER_DOUBLE_ROOT" | xargs -r docker rm -f >/dev/null
	for i in $(container image list 2>/dev/null); do docker rmi -f "$i" >/dev/null 2>&1 || true; done; rm -rf "$work"' EXIT

. bench/lib.sh

mkdir -p "$CONTAINER_DOUBLE_ROOT"
container system start >/dev/null
"$hearth" run --backend apple-container --rootfs "$rootfs" --name bench >/dev/null # loads the image once
image=$(container inspect bench | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["configuration"]["image"]["reference"])')
"$hearth" rm -f bench >/dev/null
mkdir -p "$work/config" "$work/secrets" "$work/tmp"
chmod 0700 "$work/secrets"

hearth_once() {
	local t0=$(ms)
	"$hearth" run --backend apple-container --rootfs "$rootfs" --name bench -p 18098:80 --memory 512 --cpus 2 >/dev/null
	echo $(($(ms) - t0))
	"$hearth" rm -f bench >/dev/null
}
raw_once() {
	local t0=$(ms)
	container run --detach --name bench-raw --cpus 2 --memory 512M --env HEARTH_NAME=bench \
		--env HEARTH_CONTAINER=1 --env HEARTH_VOLUMES= --publish 127.0.0.1:18098:80/tcp \
		--volume "$work/config:/mnt/config:ro" --volume "$work/secrets:/mnt/secrets:ro" --tmpfs /run/hearth \
		--entrypoint /sbin/init "$image" >/dev/null
	until container logs bench-raw 2>&1 | grep -q 'hearth-init: ready'; do sleep 0.005; done
	echo $(($(ms) - t0))
	container delete --force bench-raw >/dev/null
}
compare "start_to_ready on apple-container (the double)" "hearth run --backend apple-container" \
	"container run -d + logs poll" hearth_once raw_once
