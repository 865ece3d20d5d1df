#!/usr/bin/env bash
# The guest kit under plain qemu-system-x86_64 (microvm, TCG here): the
# kernel, hearth-init and the hello guest, with drives the test makes.
. "$(dirname "$0")/../lib.sh"

WORK=$(mktemp -d /tmp/hearth-kit.XXXXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$WORK"' EXIT

need_qemu() {
	command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 missing"
	[ -s "$GUEST/vmlinux" ] && [ -s "$GUEST/hello.ext4" ] || fail "build the guest kit first (make)"
}

# Boots IMAGE with the test's config/secrets/volume drives; extra qemu
# args follow. The console goes to $WORK/console.log, the pid to $QPID.
boot() {
	local image=$1
	shift
	rm -f "$WORK/console.log" "$WORK/agent.sock" # a previous boot's must not satisfy this one
	qemu-system-x86_64 -M microvm,x-option-roms=off,rtc=on,acpi=off -accel tcg -cpu max -m 256 -smp 1 \
		-nodefaults -no-user-config -nographic -no-reboot \
		-kernel "${KERNEL:-$GUEST/vmlinux}" \
		-append "console=ttyS0 reboot=t panic=-1 quiet root=/dev/vda rw hearth.name=kit-test hearth.ip=10.0.2.15/24 hearth.gw=10.0.2.2" \
		-serial "file:$WORK/console.log" \
		-drive "id=root,file=$image,format=raw,if=none,snapshot=on" -device virtio-blk-device,drive=root \
		-drive "id=cfg,file=$WORK/config.img,format=raw,if=none,readonly=on" -device virtio-blk-device,drive=cfg \
		-drive "id=sec,file=$WORK/secrets.img,format=raw,if=none,readonly=on" -device virtio-blk-device,drive=sec \
		-drive "id=vol0,file=$WORK/vol.img,format=raw,if=none" -device virtio-blk-device,drive=vol0,serial=hearth-vol0 \
		-netdev user,id=n0 -device virtio-net-device,netdev=n0 \
		-device virtio-serial-device \
		-chardev "socket,id=agent,path=$WORK/agent.sock,server=on,wait=off" \
		-device virtserialport,chardev=agent,name=hearth.agent \
		"$@" &
	QPID=$!
	# Each test runs in its own subshell: whatever ends it, its VMM goes too.
	trap "kill -9 $QPID 2>/dev/null || true" EXIT
}

make_drives() {
	mkdir -p "$WORK/c/.hearth" "$WORK/s"
	echo "level=debug" >"$WORK/c/app.conf"
	echo "[]" >"$WORK/c/other.toml"
	chmod 0444 "$WORK/c/app.conf" "$WORK/c/other.toml"
	echo '[{"serial":"hearth-vol0","device":"vdd","path":"/srv/data","read_only":false}]' >"$WORK/c/.hearth/volumes.json"
	(umask 077 && echo "t0ken" >"$WORK/s/api-token")
	chmod 0400 "$WORK/s/api-token"
	chmod 0700 "$WORK/s"
	rm -f "$WORK"/{config,secrets,vol}.img
	mke2fs -q -t ext4 -L hearth-config -d "$WORK/c" "$WORK/config.img" 4M >/dev/null
	mke2fs -q -t ext4 -L hearth-secrets -d "$WORK/s" "$WORK/secrets.img" 4M >/dev/null
	mke2fs -q -t ext4 -L vol "$WORK/vol.img" 16M >/dev/null
}

test_hello_boots_with_contract() {
	need_qemu
	make_drives
	boot "$GUEST/hello.ext4"
	wait_for "grep -q 'hello: serving http' '$WORK/console.log'" 60
	local con=$WORK/console.txt
	tr -d '\r' <"$WORK/console.log" >"$con" # the serial line ends lines with CRLF
	grep -q '^hearth-init: ready' "$con" || fail "no ready line"
	grep -q 'hello: hostname kit-test' "$con" || fail "hostname not set"
	grep -Eq 'hello: +-r--r--r-- +1 0 +0 .* app\.conf$' "$con" || fail "config file not 0444"
	grep -Eq 'hello: +-r--r--r-- +1 0 +0 .* other\.toml$' "$con" || fail "second config file missing"
	grep -Eq 'hello: +-r-------- +1 0 +0 .* api-token$' "$con" || fail "secret not 0400"
	grep -q 'hello:   mount /dev/vdd /srv/data ext4 rw' "$con" || fail "volume not mounted at /srv/data"
	grep -q 'hearth-init: error' "$con" && fail "hearth-init reported an error"
	# Told to stop over the agent port, the guest powers off and the
	# VMM exits by itself (-no-reboot).
	echo poweroff | socat - "UNIX-CONNECT:$WORK/agent.sock"
	wait_for "! kill -0 $QPID" 20
	wait $QPID || true
	grep -q 'hearth-init: powering off' "$WORK/console.log" || fail "no clean power-off"
}

test_workload_exit_powers_off() {
	need_qemu
	make_drives
	mkdir -p "$WORK/overlay/etc/hearth"
	printf '#!/bin/sh\necho short-lived\nexit 3\n' >"$WORK/overlay/etc/hearth/start"
	chmod 755 "$WORK/overlay/etc/hearth/start"
	"$(dirname "$0")/../../examples/hello/build.sh" "$GUEST/hearth-init" "$WORK/exit.ext4" "$WORK/overlay"
	boot "$WORK/exit.ext4"
	wait_for "! kill -0 $QPID" 60
	grep -q 'short-lived' "$WORK/console.log" || fail "workload did not run"
	grep -q 'hearth-init: exit 3' "$WORK/console.log" || fail "exit code not reported"
}

test_bad_volumes_json_still_powers_off() {
	need_qemu
	make_drives
	rm -f "$WORK/config.img"
	echo '[{"device":"vdd","path":"/srv/../etc"}]' >"$WORK/c/.hearth/volumes.json"
	mke2fs -q -t ext4 -L hearth-config -d "$WORK/c" "$WORK/config.img" 4M >/dev/null
	boot "$GUEST/hello.ext4"
	wait_for "! kill -0 $QPID" 60
	grep -q 'hearth-init: error: volumes.json: entry 0: path' "$WORK/console.log" || fail "no clear error"
	grep -q 'hearth-init: powering off' "$WORK/console.log" || fail "did not power off"
	grep -q 'hearth-init: ready' "$WORK/console.log" && fail "workload started despite the error"
	return 0
}

test_stage1_initrd_switch_root() {
	need_qemu
	command -v cpio >/dev/null || skip "cpio missing"
	make_drives
	mkdir -p "$WORK/initrd/dev"
	cp "$GUEST/hearth-init" "$WORK/initrd/init"
	(cd "$WORK/initrd" && find . | cpio -o -H newc --quiet | gzip >"$WORK/initrd.gz")
	boot "$GUEST/hello.ext4" -initrd "$WORK/initrd.gz"
	wait_for "grep -q 'hello: serving http' '$WORK/console.log'" 60
	grep -q 'hearth-init: stage-1: switching to root /dev/vda' "$WORK/console.log" || fail "stage-1 did not run"
	grep -q 'hello: hostname kit-test' "$WORK/console.log" || fail "real init did not run"
	echo poweroff | socat - "UNIX-CONNECT:$WORK/agent.sock"
	wait_for "! kill -0 $QPID" 20
}

# The same kernel as bzImage (QEMU's Linux boot protocol, not PVH).
test_bzimage_boots() {
	need_qemu
	make_drives
	KERNEL=$GUEST/bzImage boot "$GUEST/hello.ext4"
	wait_for "grep -q 'hello: serving http' '$WORK/console.log'" 60
	echo poweroff | socat - "UNIX-CONNECT:$WORK/agent.sock"
	wait_for "! kill -0 $QPID" 20
}

t test_hello_boots_with_contract
t test_bzimage_boots
t test_workload_exit_powers_off
t test_bad_volumes_json_still_powers_off
t test_stage1_initrd_switch_root
report
