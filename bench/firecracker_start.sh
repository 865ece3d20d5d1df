#!/usr/bin/env bash
# start_to_ready on the Firecracker backend against the same API calls
# made by hand with curl, both talking to tests/firecracker/firecracker
# (the double: no real Firecracker can be installed here, so the boot
# itself is QEMU's and only hearth's own share is comparable). The hand
# side makes its TAP with ip and uses the image in place; hearth copies
# the rootfs (as it must: Firecracker writes to it). In a network
# namespace made here (root). Median of N (default 5).
set -euo pipefail
cd "$(dirname "$0")/.."
B=${HEARTH_BUILD:-build}
N=${N:-5}
hearth=$PWD/$B/hearth
double=$PWD/tests/firecracker/firecracker
work=$(mktemp -d /tmp/hearth-bench.XXXXXX)
export HEARTH_STATE_DIR=$work/state HEARTH_BRIDGE_CIDR=10.80.0.0/24 HEARTH_FIRECRACKER=$double
. bench/lib.sh
netns_up

hearth_once() { hearth_run_ms --backend firecracker; }

empty_drives "$work"
api() {
	curl -sf --unix-socket "$work/fc.sock" -X PUT "http://localhost$1" -H 'Content-Type: application/json' -d "$2"
}
raw_once() {
	local t0 pid
	rm -f "$work/console.log" "$work/fc.sock" "$work/v.sock"
	: >"$work/fc.log"
	t0=$(ms)
	raw_tap_up 10.80.0.1/24
	# Not through in_ns: $! must be the process itself, not a subshell.
	ip netns exec "$ns" "$double" --api-sock "$work/fc.sock" >"$work/console.log" 2>/dev/null &
	pid=$!
	until [ -S "$work/fc.sock" ]; do sleep 0.005; done
	api /logger "{\"log_path\": \"$work/fc.log\", \"level\": \"Info\"}"
	api /boot-source "{\"kernel_image_path\": \"$PWD/$B/guest/vmlinux\", \"boot_args\": \"console=ttyS0 reboot=k panic=1 pci=off quiet root=/dev/vda rw hearth.name=bench hearth.ip=10.80.0.2/24 hearth.gw=10.80.0.1\"}"
	api /machine-config '{"vcpu_count": 2, "mem_size_mib": 512}'
	cp --reflink=auto "$B/guest/hello.ext4" "$work/rootfs.img"
	api /drives/rootfs "{\"drive_id\": \"rootfs\", \"path_on_host\": \"$work/rootfs.img\", \"is_root_device\": true, \"is_read_only\": false}"
	api /drives/hearth_config "{\"drive_id\": \"hearth_config\", \"path_on_host\": \"$work/config.img\", \"is_root_device\": false, \"is_read_only\": true}"
	api /drives/hearth_secrets "{\"drive_id\": \"hearth_secrets\", \"path_on_host\": \"$work/secrets.img\", \"is_root_device\": false, \"is_read_only\": true}"
	api /network-interfaces/eth0 '{"iface_id": "eth0", "host_dev_name": "rawtap", "guest_mac": "06:00:0a:50:00:02"}'
	api /vsock "{\"guest_cid\": 3, \"uds_path\": \"$work/v.sock\"}"
	api /actions '{"action_type": "InstanceStart"}'
	ready_ms "$t0" "$work/console.log" $pid
	in_ns ip link del rawtap
}

compare "start_to_ready, firecracker backend against the double" "hearth run" "the API by hand (curl)" hearth_once raw_once
