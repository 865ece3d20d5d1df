#!/usr/bin/env bash
# OCI images (#12), on an image of ~30 MB (busybox and 30 MB of random
# bytes in four layers) in a real registry on 127.0.0.1:
#  cold: `hearth pull docker://...` into an empty store against the same
#        work by hand: `skopeo copy` to an OCI layout, `umoci unpack`,
#        `mke2fs -d`; and a cold `hearth run --image` to ready, for the
#        record (pull, unpack, boot under TCG);
#  warm: `hearth run --image` of the converted image against `hearth run
#        --rootfs` of the same ext4 (the image's /sbin/init is hearth-init).
# Medians of N (11) and ratios. Needs docker-registry, skopeo, umoci.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${HEARTH_BUILD:-build}
N=${N:-11}
hearth=$PWD/$B/hearth
work=$(mktemp -d /tmp/hearth-ibench.XXXXXX)
export HEARTH_STATE_DIR=$work/state
trap '"$hearth" rm -f iw ir >/dev/null 2>&1 || true; kill $reg 2>/dev/null || true; rm -rf "$work"' EXIT
. bench/lib.sh

BULK_MB=30 python3 tests/images/make-image.py "$work/img" >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
	"$work/reg" "$port" >"$work/reg.yml"
docker-registry serve "$work/reg.yml" >/dev/null 2>&1 &
reg=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done
ref=127.0.0.1:$port/bench/app:1
skopeo copy -q --dest-tls-verify=false "oci:$work/img/layout:1" "docker://$ref"
echo "image: $(du -sh "$work/img/layout/blobs" | cut -f1) of blobs, 4 layers"

hearth_cold() {
	rm -rf "$HEARTH_STATE_DIR"
	local t0=$(ms)
	"$hearth" pull "docker://$ref" >/dev/null
	echo $(($(ms) - t0))
}
hand_cold() {
	rm -rf "$work/oci" "$work/bundle" "$work/hand.ext4"
	local t0=$(ms)
	skopeo copy -q --src-tls-verify=false "docker://$ref" "oci:$work/oci:1"
	umoci unpack --image "$work/oci:1" "$work/bundle" >/dev/null
	mke2fs -q -t ext4 -d "$work/bundle/rootfs" "$work/hand.ext4" 128M >/dev/null
	echo $(($(ms) - t0))
}
compare "cold pull + unpack + ext4" "hearth pull" "skopeo + umoci + mke2fs -d" hearth_cold hand_cold

c=()
for _ in $(seq 1 "$N"); do
	rm -rf "$HEARTH_STATE_DIR"
	t0=$(ms)
	"$hearth" run --image "docker://$ref" --name ic >/dev/null
	c+=($(($(ms) - t0)))
	"$hearth" rm -f ic >/dev/null
done
echo "cold hearth run --image, to ready ($N runs)"
printf '  %-28s median %s ms  (%s)\n' "hearth run --image:" "$(printf '%s\n' "${c[@]}" | median)" "${c[*]}"

digest=$("$hearth" pull "docker://$ref")
ext4=$HEARTH_STATE_DIR/images/${digest#sha256:}/rootfs.ext4
warm_image() {
	local t0=$(ms)
	"$hearth" run --image "docker://$ref" --name iw >/dev/null
	echo $(($(ms) - t0))
	"$hearth" rm -f iw >/dev/null
}
warm_rootfs() {
	local t0=$(ms)
	"$hearth" run --rootfs "$ext4" --name ir >/dev/null
	echo $(($(ms) - t0))
	"$hearth" rm -f ir >/dev/null
}
compare "warm start to ready (qemu, TCG)" "hearth run --image (cached)" "hearth run --rootfs (same ext4)" \
	warm_image warm_rootfs
