#!/usr/bin/env bash
# start_to_ready: `hearth run` of the hello guest until it returns (it
# returns when the guest prints "hearth-init: ready") against the same
# QEMU command line typed by hand, timed from exec to the same ready
# line on its console. Median of N runs each (default 5), and the ratio.
# Also: `hearth ps -a` with 100 and with 1000 guests in the state root,
# against `cat` of every guest's record and config (the files ps reads).
set -euo pipefail
cd "$(dirname "$0")/.."
B=${HEARTH_BUILD:-build}
N=${N:-5}
hearth=$PWD/$B/hearth
work=$(mktemp -d /tmp/hearth-bench.XXXXXX)
export HEARTH_STATE_DIR=$work/state
trap '"$hearth" stop --all --timeout 0 >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

. bench/lib.sh

accel=$("$hearth" backends --json | python3 -c 'import json,sys; r=[b for b in json.load(sys.stdin) if b["name"]=="qemu"][0]["reason"]; print("kvm" if "accel kvm" in r else "tcg")')
cpu=$([ "$accel" = kvm ] && echo host || echo max)

hearth_once() {
	local t0 t1
	t0=$(ms)
	"$hearth" run --rootfs "$B/guest/hello.ext4" --name bench --memory 512 --cpus 2 >/dev/null
	t1=$(ms)
	"$hearth" stop --timeout 0 bench >/dev/null
	"$hearth" rm bench >/dev/null
	echo $((t1 - t0))
}

# What hearth does, by hand: the same drives (empty config and secrets
# images made beforehand, not timed), the same devices and command line.
empty_drives "$work"
raw_once() {
	local t0 pid
	rm -f "$work/console.log"
	t0=$(ms)
	qemu-system-x86_64 -M microvm,x-option-roms=off,rtc=on,acpi=off -accel "$accel" -cpu "$cpu" -smp 2 -m 512 \
		-nodefaults -no-user-config -nographic -no-reboot -kernel "$B/guest/vmlinux" \
		-append "console=ttyS0 reboot=t panic=-1 quiet root=/dev/vda rw hearth.name=bench hearth.ip=10.0.2.15/24 hearth.gw=10.0.2.2" \
		-serial "file:$work/console.log" \
		-drive "id=root,file=$B/guest/hello.ext4,format=raw,if=none,snapshot=on" -device virtio-blk-device,drive=root \
		-drive "id=config,file=$work/config.img,format=raw,if=none,readonly=on" -device virtio-blk-device,drive=config \
		-drive "id=secrets,file=$work/secrets.img,format=raw,if=none,readonly=on" -device virtio-blk-device,drive=secrets \
		-netdev user,id=net0 -device virtio-net-device,netdev=net0 2>/dev/null &
	pid=$!
	ready_ms "$t0" "$work/console.log" $pid
}

compare "start_to_ready (accel $accel)" "hearth run" "qemu by hand" hearth_once raw_once

# hearth ps with 100 and 1000 guests: records as the monitor leaves them.
make_guests() {
	local i d
	for i in $(seq "$1" "$2"); do
		d=$HEARTH_STATE_DIR/vms/guest-$i
		mkdir -p "$d"
		printf '{"name": "guest-%d", "rootfs_path": "%s", "cpus": 2, "memory_mib": 512, "ports": [{"host": %d, "guest": 80, "protocol": "tcp", "host_addr": null}]}\n' \
			"$i" "$PWD/$B/guest/hello.ext4" $((20000 + i)) >"$d/config.json"
		printf '{"name": "guest-%d", "backend": "qemu", "status": "stopped", "reason": "workload exited with code 0", "exit_code": 0, "monitor_pid": 0, "monitor_start": 0, "vmm_pid": 0, "vmm_start": 0, "started_at": 1, "stopped_at": 2, "accel": "tcg", "guest_ip": "10.0.2.15/24", "gateway": "10.0.2.2", "stop_requested": false}\n' \
			"$i" >"$d/record.json"
	done
}
# Timed with bash's own clock ($EPOCHREALTIME): a `date` would add its exec.
ps_bench() {
	local p=() c=() t0 t1
	for _ in $(seq 1 "$N"); do
		t0=${EPOCHREALTIME/./}
		"$hearth" ps -a >/dev/null
		t1=${EPOCHREALTIME/./}
		p+=("$((10#$t1 - 10#$t0))")
		t0=${EPOCHREALTIME/./}
		cat "$HEARTH_STATE_DIR"/vms/*/record.json "$HEARTH_STATE_DIR"/vms/*/config.json >/dev/null
		t1=${EPOCHREALTIME/./}
		c+=("$((10#$t1 - 10#$t0))")
	done
	echo "hearth ps -a with $1 guests: median $(printf '%s\n' "${p[@]}" | median) us  (${p[*]})"
	echo "  cat of their records and configs: median $(printf '%s\n' "${c[@]}" | median) us"
}
mkdir -p "$HEARTH_STATE_DIR/vms"
make_guests 1 100
ps_bench 100
make_guests 101 1000
ps_bench 1000
