#!/usr/bin/env bash
# hearth exec and hearth cp against Docker's own on the same hello
# container (docker backend): `hearth exec NAME true` against `docker exec
# CONTAINER true`, and a 100 MB file copied each way against `docker cp`.
# Also `hearth exec NAME true` on a QEMU guest (TCG here: no raw
# counterpart, for the record). Medians of N (11) each, and ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${HEARTH_BUILD:-build}
N=${N:-11}
hearth=$PWD/$B/hearth
rootfs=$PWD/$B/guest/hello.ext4
work=$(mktemp -d /tmp/hearth-xbench.XXXXXX)
export HEARTH_STATE_DIR=$work/state
trap '"$hearth" rm -f bx bq >/dev/null 2>&1; rm -rf "$work"' EXIT
. bench/lib.sh

"$hearth" run --backend docker --rootfs "$rootfs" --name bx >/dev/null
"$hearth" run --rootfs "$rootfs" --name bq --memory 256 >/dev/null

hearth_exec() { local t0=$(ms); "$hearth" exec bx true; echo $(($(ms) - t0)); }
docker_exec() { local t0=$(ms); docker exec hearth-bx true; echo $(($(ms) - t0)); }
compare "exec round trip, docker backend" "hearth exec NAME true" "docker exec NAME true" hearth_exec docker_exec

head -c 100000000 /dev/urandom >"$work/big"
hearth_in() { local t0=$(ms); "$hearth" cp "$work/big" bx:/tmp/big; echo $(($(ms) - t0)); }
docker_in() { local t0=$(ms); docker cp -q "$work/big" hearth-bx:/tmp/big; echo $(($(ms) - t0)); }
N=${CP_N:-5} compare "cp of 100 MB into the container" "hearth cp FILE NAME:/tmp" "docker cp FILE NAME:/tmp" hearth_in docker_in
hearth_out() { local t0=$(ms); "$hearth" cp bx:/tmp/big "$work/out"; echo $(($(ms) - t0)); rm -f "$work/out"; }
docker_out() { local t0=$(ms); docker cp -q hearth-bx:/tmp/big "$work/out"; echo $(($(ms) - t0)); rm -f "$work/out"; }
N=${CP_N:-5} compare "cp of 100 MB out of the container" "hearth cp NAME:FILE DIR" "docker cp NAME:FILE DIR" hearth_out docker_out

q=()
for _ in $(seq 1 "$N"); do
	t0=$(ms)
	"$hearth" exec bq true
	q+=($(($(ms) - t0)))
done
echo "exec round trip, qemu backend (TCG) ($N runs)"
printf '  %-28s median %s ms  (%s)\n' "hearth exec NAME true:" "$(printf '%s\n' "${q[@]}" | median)" "${q[*]}"
