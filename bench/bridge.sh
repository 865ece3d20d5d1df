#!/usr/bin/env bash
# Bridge networking, inside a network namespace made here (root).
# 1. start_to_ready with --network bridge against the same qemu by hand
#    with a TAP made by hand (ip tuntap, master, up: timed too).
# 2. A published port through the monitor's proxy against the guest's
#    bridge address directly: median latency of one HTTP GET (curl, a new
#    connection each), N each.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${HEARTH_BUILD:-build}
N=${N:-5}
GETS=${GETS:-200}
hearth=$PWD/$B/hearth
work=$(mktemp -d /tmp/hearth-bench.XXXXXX)
export HEARTH_STATE_DIR=$work/state HEARTH_BRIDGE_CIDR=10.79.0.0/24
. bench/lib.sh
netns_up

hearth_once() { hearth_run_ms --network bridge; }

empty_drives "$work"
raw_once() {
	local t0 pid
	rm -f "$work/console.log"
	t0=$(ms)
	raw_tap_up 10.79.0.1/24
	# Not through in_ns: $! must be the process itself, not a subshell.
	ip netns exec "$ns" qemu-system-x86_64 -M microvm,x-option-roms=off,rtc=on,acpi=off -accel tcg -cpu max -smp 2 -m 512 \
		-nodefaults -no-user-config -nographic -no-reboot -kernel "$B/guest/vmlinux" \
		-append "console=ttyS0 reboot=t panic=-1 quiet root=/dev/vda rw hearth.name=bench hearth.ip=10.79.0.2/24 hearth.gw=10.79.0.1" \
		-serial "file:$work/console.log" \
		-drive "id=root,file=$B/guest/hello.ext4,format=raw,if=none,snapshot=on" -device virtio-blk-device,drive=root \
		-drive "id=config,file=$work/config.img,format=raw,if=none,readonly=on" -device virtio-blk-device,drive=config \
		-drive "id=secrets,file=$work/secrets.img,format=raw,if=none,readonly=on" -device virtio-blk-device,drive=secrets \
		-netdev tap,id=net0,ifname=rawtap,script=no,downscript=no -device virtio-net-device,netdev=net0,mac=06:00:0a:4f:00:02 \
		2>/dev/null &
	pid=$!
	ready_ms "$t0" "$work/console.log" $pid
	in_ns ip link del rawtap
}

compare "start_to_ready, --network bridge (tcg)" "hearth run" "qemu + TAP by hand" hearth_once raw_once

in_ns "$hearth" run --network bridge --rootfs "$B/guest/hello.ext4" --name web -p 18280:80 --memory 512 --cpus 2 >/dev/null
until in_ns curl -sf -m 2 http://127.0.0.1:18280/ >/dev/null; do sleep 0.1; done
get_ms() {
	in_ns curl -s -o /dev/null -w '%{time_total}\n' "$1" | awk '{printf "%.3f\n", $1 * 1000}'
}
p=()
d=()
for _ in $(seq 1 "$GETS"); do
	p+=("$(get_ms http://127.0.0.1:18280/)")
	d+=("$(get_ms http://10.79.0.2/)")
done
pm=$(printf '%s\n' "${p[@]}" | median)
dm=$(printf '%s\n' "${d[@]}" | median)
echo "one HTTP GET, new connection each ($GETS each)"
echo "  through hearth's proxy (127.0.0.1:18280): median ${pm} ms"
echo "  straight to the guest (10.79.0.2:80):     median ${dm} ms"
echo "  ratio proxy/direct:                        $(awk -v a="$pm" -v b="$dm" 'BEGIN {printf "%.2f", a/b}')"
