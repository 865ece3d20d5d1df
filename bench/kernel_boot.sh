#!/usr/bin/env bash
# start_to_ready of the hello guest under plain QEMU (microvm): hearth's
# kernel against Debian's stock cloud kernel with the initrd it needs,
# on the same image, same machine, same accelerator. Median of N (5).
# Needs: apt-get install linux-image-cloud-amd64 (which makes the initrd).
# Both get the same command line, with tsc=reliable: without it the stock
# kernel under TCG (no PIT, no HPET on microvm) can hang calibrating the TSC.
# The stock kernel has no virtio-mmio command-line devices, so it gets
# the microvm machine with ACPI on, which describes the disks to it.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${HEARTH_BUILD:-build}
N=${N:-5}
stock=$(ls /boot/vmlinuz-*-cloud-amd64 2>/dev/null | sort -V | tail -n 1)
if [ -z "$stock" ]; then
	echo "kernel_boot.sh: error: no stock cloud kernel (apt-get install linux-image-cloud-amd64)" >&2
	exit 1
fi
initrd=/boot/initrd.img-${stock#/boot/vmlinuz-}
work=$(mktemp -d /tmp/hearth-kbench.XXXXXX)
trap 'rm -rf "$work"' EXIT
accel=${HEARTH_ACCEL:-tcg}
cpu=$([ "$accel" = kvm ] && echo host || echo max)

. bench/lib.sh

# boot MACHINE KERNEL [qemu args...]: ms from exec to "hearth-init: ready".
boot() {
	local machine=$1 kernel=$2 t0 t1 pid
	shift 2
	rm -f "$work/console.log"
	t0=$(ms)
	qemu-system-x86_64 -M "$machine" -accel "$accel" -cpu "$cpu" -m 512 -smp 2 -nodefaults -no-user-config \
		-nographic -no-reboot -kernel "$kernel" "$@" \
		-append "console=ttyS0 reboot=t panic=-1 tsc=reliable root=/dev/vda rw hearth.name=kbench hearth.ip=10.0.2.15/24 hearth.gw=10.0.2.2" \
		-serial "file:$work/console.log" \
		-drive "id=root,file=$B/guest/hello.ext4,format=raw,if=none,snapshot=on" -device virtio-blk-device,drive=root \
		-netdev user,id=n0 -device virtio-net-device,netdev=n0 2>/dev/null &
	pid=$!
	until grep -q 'hearth-init: ready' "$work/console.log" 2>/dev/null; do
		if ! kill -0 $pid 2>/dev/null || [ $(($(ms) - t0)) -gt 120000 ]; then
			kill $pid 2>/dev/null || true
			echo "kernel_boot.sh: error: $kernel did not reach ready; console:" >&2
			tail -n 5 "$work/console.log" >&2
			exit 1
		fi
		sleep 0.01
	done
	t1=$(ms)
	kill $pid
	wait $pid 2>/dev/null || true
	echo $((t1 - t0))
}

h=()
s=()
for _ in $(seq 1 "$N"); do
	h+=("$(boot microvm,x-option-roms=off,rtc=on,acpi=off "$B/guest/vmlinux")")
	s+=("$(boot microvm,x-option-roms=off,rtc=on "$stock" -initrd "$initrd")")
done
hm=$(printf '%s\n' "${h[@]}" | median)
sm=$(printf '%s\n' "${s[@]}" | median)
echo "qemu exec -> hearth-init: ready (accel $accel, $N runs each)"
echo "  hearth kernel ($(du -h "$B/guest/vmlinux" | cut -f1) vmlinux):     median ${hm} ms  (${h[*]})"
echo "  stock $(basename "$stock") + initrd: median ${sm} ms  (${s[*]})"
echo "  ratio stock/hearth: $(awk -v a="$sm" -v b="$hm" 'BEGIN {printf "%.1f", a/b}')"
