#!/usr/bin/env bash
# From `hearth run --backend firecracker` to InstanceStart answered, with
# a real Firecracker (default v1.14.2 from the shared directory; set
# HEARTH_FIRECRACKER), against the same requests sent by curl to the
# same binary. Both sides copy the rootfs; hearth also builds its config
# and secrets drives while timed (the hand side's are made beforehand).
# No network on either side (bridge.sh measures the TAP). The guest dies
# afterwards on this host's nested KVM; neither side waits for that.
# Root (the VMM needs /dev/kvm). Median of N (default 11).
set -euo pipefail
cd "$(dirname "$0")/.."
B=${HEARTH_BUILD:-build}
N=${N:-11}
hearth=$PWD/$B/hearth
fc=${HEARTH_FIRECRACKER:-$PWD/../shared/firecracker/firecracker-v1.14.2}
[ -x "$fc" ] || fc=/work/shared/firecracker/firecracker-v1.14.2
work=$(mktemp -d /tmp/hearth-bench.XXXXXX)
export HEARTH_STATE_DIR=$work/state HEARTH_FIRECRACKER=$fc
trap '"$hearth" rm -f bench >/dev/null 2>&1 || true; pkill -f "$work/fc.sock" || true; rm -rf "$work"' EXIT
. bench/lib.sh

hearth_once() {
	local t0 t1
	t0=$(ms)
	"$hearth" run --backend firecracker --network none --no-wait --rootfs "$B/guest/hello.ext4" --name bench \
		--memory 512 --cpus 2 >/dev/null
	t1=$(ms)
	"$hearth" rm -f bench >/dev/null
	echo $((t1 - t0))
}

empty_drives "$work"
api() {
	curl -sf --unix-socket "$work/fc.sock" -X PUT "http://localhost$1" -H 'Content-Type: application/json' -d "$2"
}
raw_once() {
	local t0 t1 pid
	rm -f "$work/fc.sock" "$work/v.sock" "$work/rootfs.img"
	: >"$work/fc.log"
	t0=$(ms)
	"$fc" --api-sock "$work/fc.sock" >/dev/null 2>&1 &
	pid=$!
	until curl -s --unix-socket "$work/fc.sock" http://localhost/ >/dev/null 2>&1; do sleep 0.005; done
	api /logger "{\"log_path\": \"$work/fc.log\", \"level\": \"Info\"}"
	api /boot-source "{\"kernel_image_path\": \"$PWD/$B/guest/vmlinux\", \"boot_args\": \"console=ttyS0 reboot=k panic=1 pci=off quiet root=/dev/vda rw hearth.name=bench\"}"
	api /machine-config '{"vcpu_count": 2, "mem_size_mib": 512}'
	cp --reflink=auto "$B/guest/hello.ext4" "$work/rootfs.img"
	api /drives/rootfs "{\"drive_id\": \"rootfs\", \"path_on_host\": \"$work/rootfs.img\", \"is_root_device\": true, \"is_read_only\": false}"
	api /drives/hearth_config "{\"drive_id\": \"hearth_config\", \"path_on_host\": \"$work/config.img\", \"is_root_device\": false, \"is_read_only\": true}"
	api /drives/hearth_secrets "{\"drive_id\": \"hearth_secrets\", \"path_on_host\": \"$work/secrets.img\", \"is_root_device\": false, \"is_read_only\": true}"
	api /vsock "{\"guest_cid\": 3, \"uds_path\": \"$work/v.sock\"}"
	api /actions '{"action_type": "InstanceStart"}'
	t1=$(ms)
	kill -9 $pid
	wait $pid 2>/dev/null || true
	echo $((t1 - t0))
}

compare "run to InstanceStart answered, real $("$fc" --version | head -n 1)" "hearth run --no-wait" \
	"the API by hand (curl)" hearth_once raw_once
