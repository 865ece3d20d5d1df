#!/usr/bin/env bash
# Warm starts on real QEMU (TCG here): snapshots, templates and clones,
# each restored guest with an identity of its own, and what a restore
# refuses.
. "$(dirname "$0")/../lib.sh"

new_state
WORK=$(mktemp -d /tmp/hearth-tmpl.XXXXXX)
trap 'cleanup_state; umount "$WORK/full" 2>/dev/null; rm -rf "$WORK"' EXIT
HELLO=$GUEST/hello.ext4

need_qemu() {
	command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 missing"
	command -v qemu-img >/dev/null || skip "qemu-img missing (qemu-utils)"
	[ -s "$HELLO" ] || fail "build the guest kit first (make)"
}

# The template every test here starts from: the hello guest, booted once
# with its workload held and a config file of its own ("template"), which
# no guest started from it may see.
template_hello() {
	"$HEARTH" template ls | grep -q '^hello ' && return 0
	mkdir -p "$WORK/tconf"
	echo "who=template" >"$WORK/tconf/who.conf"
	"$HEARTH" template create hello --rootfs "$HELLO" --memory 256 --cpus 1 \
		--config-file "who.conf=$WORK/tconf/who.conf" >/dev/null
}

# Lines printed by CMD in guest $1.
in_guest() {
	local g=$1
	shift
	"$HEARTH" exec "$g" -- sh -c "$*"
}

test_ten_guests_from_a_template() {
	need_qemu
	template_hello
	[ -f "$HEARTH_STATE_DIR/templates/hello/memory" ] || fail "no memory file in the template"
	local i port
	for i in $(seq 1 10); do
		mkdir -p "$WORK/c$i"
		echo "who=t$i" >"$WORK/c$i/who.conf"
		(umask 077 && echo "secret-$i" >"$WORK/c$i/token")
		port=$(free_port)
		echo "$port" >"$WORK/c$i/port"
		"$HEARTH" run --template hello --name "t$i" -p "$port:80" --config-file "who.conf=$WORK/c$i/who.conf" \
			--secret-file "token=$WORK/c$i/token" >/dev/null || fail "run --template t$i"
	done
	"$HEARTH" template ls | grep -Eq '^hello +qemu +256M .* 10  ' || fail "template ls: $("$HEARTH" template ls)"
	local before after clock
	for i in $(seq 1 10); do
		port=$(cat "$WORK/c$i/port")
		wait_for "curl -sf http://127.0.0.1:$port/" 20
		[ "$(curl -s "http://127.0.0.1:$port/")" = "hello from hearth t$i" ] ||
			fail "t$i serves '$(curl -s "http://127.0.0.1:$port/")'"
		[ "$(in_guest "t$i" hostname)" = "t$i" ] || fail "t$i hostname"
		[ "$(in_guest "t$i" cat /mnt/config/who.conf)" = "who=t$i" ] || fail "t$i config: $(in_guest "t$i" cat /mnt/config/who.conf)"
		[ "$(in_guest "t$i" cat /mnt/secrets/token)" = "secret-$i" ] || fail "t$i secret"
		in_guest "t$i" 'grep -rqs who=template /mnt/config /mnt/secrets' && fail "t$i sees the template's config"
		in_guest "t$i" cat /proc/sys/kernel/random/boot_id >>"$WORK/boot_ids"
		in_guest "t$i" 'head -c 16 /dev/urandom | od -An -tx1 | tr -d " \n"; echo' >>"$WORK/random"
		before=$(date +%s)
		clock=$(in_guest "t$i" date +%s)
		after=$(date +%s)
		[ "$clock" -ge $((before - 1)) ] && [ "$clock" -le $((after + 1)) ] ||
			fail "t$i clock $clock, host $before..$after"
	done
	[ "$(sort -u "$WORK/boot_ids" | wc -l)" = 10 ] || fail "boot_ids repeat: $(cat "$WORK/boot_ids")"
	[ "$(sort -u "$WORK/random" | wc -l)" = 10 ] || fail "urandom repeats: $(cat "$WORK/random")"
	# The memory file is shared: each QEMU maps it, none copies it whole.
	local pid
	pid=$(status_field t1 vmm_pid 2>/dev/null || pgrep -f "vms/t1/qmp.sock" | head -n 1)
	grep -q "templates/hello/memory" "/proc/$pid/maps" || fail "t1 does not map the template's memory"
	local rc=0
	"$HEARTH" template rm hello 2>"$WORK/err" || rc=$?
	[ $rc = 1 ] && grep -q "10 guests still run from it" "$WORK/err" || fail "template rm while in use: rc $rc $(cat "$WORK/err")"
	for i in $(seq 1 10); do "$HEARTH" rm -f "t$i" >/dev/null; done
	[ -z "$(ls "$HEARTH_STATE_DIR/vms")" ] || fail "guests left: $(ls "$HEARTH_STATE_DIR/vms")"
}

test_clone_keeps_memory() {
	need_qemu
	local port cport
	port=$(free_port)
	cport=$(free_port)
	"$HEARTH" run --rootfs "$HELLO" --memory 256 --cpus 1 --name src -p "$port:80" >/dev/null
	in_guest src 'echo 41 >/tmp/counter'
	"$HEARTH" clone src dolly -p "$cport:80" >/dev/null || fail "clone"
	[ "$(status_field src status)" = running ] || fail "source not running after the clone"
	[ "$(in_guest dolly cat /tmp/counter)" = 41 ] || fail "clone lost /tmp/counter"
	in_guest dolly 'echo 42 >/tmp/counter'
	[ "$(in_guest src cat /tmp/counter)" = 41 ] || fail "the clone wrote into the source"
	[ "$(in_guest dolly hostname)" = dolly ] || fail "clone hostname $(in_guest dolly hostname)"
	# Its processes came along: the source's web server, on the clone's port.
	wait_for "curl -sf http://127.0.0.1:$cport/" 20
	curl -sf "http://127.0.0.1:$port/" >/dev/null || fail "source stopped serving"
	[ "$(in_guest src 'head -c 16 /dev/urandom | od -An -tx1')" != "$(in_guest dolly 'head -c 16 /dev/urandom | od -An -tx1')" ] ||
		fail "same random bytes"
	local origin
	origin=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["origin"])' \
		"$HEARTH_STATE_DIR/vms/dolly/record.json")
	[ -f "$origin/memory" ] || fail "clone's snapshot missing ($origin)"
	"$HEARTH" template ls | grep -q clone && fail "a clone's snapshot listed as a template"
	"$HEARTH" rm -f dolly >/dev/null
	[ ! -e "$origin" ] || fail "clone's snapshot left after rm ($origin)"
	"$HEARTH" rm -f src >/dev/null
}

test_snapshot_create_restore() {
	need_qemu
	# What `hearth backends` says qemu can do, in both forms.
	"$HEARTH" backends | grep -Eq '^qemu +available .* pause_resume,snapshots,tap_networking,templates$' ||
		fail "backends: $("$HEARTH" backends | grep '^qemu')"
	"$HEARTH" backends --json | python3 -c '
import json, sys
caps = [b["capabilities"] for b in json.load(sys.stdin) if b["name"] == "qemu"][0]
sys.exit(0 if "snapshots" in caps and "templates" in caps else 1)' || fail "backends --json: no snapshots/templates for qemu"
	"$HEARTH" run --rootfs "$HELLO" --memory 256 --cpus 1 --name snap1 >/dev/null
	in_guest snap1 'echo kept >/root/on-disk; echo 7 >/tmp/in-memory'
	"$HEARTH" snapshot create snap1 "$WORK/s1" >/dev/null || fail "snapshot create"
	[ "$(stat -c %a "$WORK/s1")" = 700 ] || fail "snapshot dir not 0700"
	for f in memory vmstate rootfs.qcow2 config.img secrets.img hearth.json; do
		[ -f "$WORK/s1/$f" ] || fail "no $f"
		[ "$(stat -c %a "$WORK/s1/$f")" = 600 ] || fail "$f not 0600"
	done
	python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))
f = m["backend_facts"]
assert m["backend"] == "qemu" and m["format"] == 2 and m["hearth_version"], m
assert f["qemu_version"].startswith("QEMU emulator"), f
assert f["kernel"]["path"].endswith("vmlinux") and f["vmstate"].startswith("sha256:"), f' "$WORK/s1/hearth.json" ||
		fail "manifest"
	# Sparse: only the pages the guest touched.
	[ "$(du -k "$WORK/s1/memory" | cut -f1)" -lt 131072 ] || fail "memory file not sparse"
	"$HEARTH" stop snap1 >/dev/null
	"$HEARTH" snapshot restore "$WORK/s1" --name snap2 >/dev/null || fail "restore"
	wait_for "[ \"\$(status_field snap2 status)\" = running ]" 20
	[ "$(in_guest snap2 cat /tmp/in-memory)" = 7 ] || fail "memory not restored"
	[ "$(in_guest snap2 cat /root/on-disk)" = kept ] || fail "disk not restored"
	[ "$(in_guest snap2 hostname)" = snap2 ] || fail "hostname"
	"$HEARTH" rm -f snap1 snap2 >/dev/null
}

# Nothing of a refused restore may stay: no guest, no process, no file.
nothing_left() {
	[ -z "$(ls "$HEARTH_STATE_DIR/vms" 2>/dev/null)" ] || fail "guests left: $(ls "$HEARTH_STATE_DIR/vms")"
	! pgrep -f "$HEARTH_STATE_DIR/vms/" >/dev/null || fail "a process left: $(pgrep -af "$HEARTH_STATE_DIR/vms/")"
}

# restore_fails DIR WANT: the restore exits non-zero with WANT on one line.
restore_fails() {
	local rc=0
	"$HEARTH" snapshot restore "$1" --name bad 2>"$WORK/err" >/dev/null || rc=$?
	[ $rc != 0 ] || fail "restore of $1 succeeded"
	[ "$(wc -l <"$WORK/err")" = 1 ] || fail "not one line: $(cat "$WORK/err")"
	grep -q "$2" "$WORK/err" || fail "want '$2', got: $(cat "$WORK/err")"
	nothing_left
}

test_restore_refuses_bad_snapshots() {
	need_qemu
	cp "$GUEST/vmlinux" "$WORK/vmlinux"
	"$HEARTH" run --rootfs "$HELLO" --kernel "$WORK/vmlinux" --memory 256 --cpus 1 --name orig >/dev/null
	"$HEARTH" snapshot create orig "$WORK/good" >/dev/null
	"$HEARTH" rm -f orig >/dev/null
	local d
	for d in kernel vmstate memory gone version; do cp -a "$WORK/good" "$WORK/$d"; done
	touch -r "$WORK/vmlinux" "$WORK/vmlinux.was"
	touch -d '1 hour ago' "$WORK/vmlinux"
	restore_fails "$WORK/kernel" "its kernel .*vmlinux changed"
	touch -r "$WORK/vmlinux.was" "$WORK/vmlinux" # back as it was: mtime is part of its identity
	python3 -c '
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[len(b) // 2] ^= 0xff
open(p, "wb").write(b)' "$WORK/vmstate/vmstate"
	restore_fails "$WORK/vmstate" "vmstate"
	truncate -s 1M "$WORK/memory/memory"
	restore_fails "$WORK/memory" "memory: 1048576 bytes, not the 256 MiB"
	rm "$WORK/gone/memory"
	restore_fails "$WORK/gone" "memory"
	sed -i 's/"hearth_version": "[^"]*"/"hearth_version": "0.0.1"/' "$WORK/version/hearth.json"
	restore_fails "$WORK/version" "taken by hearth 0.0.1"
	# A template name that is none, and what a template decides.
	local rc=0
	"$HEARTH" run --template nosuch 2>"$WORK/err" >/dev/null || rc=$?
	[ $rc = 1 ] && grep -q "no such template (nosuch)" "$WORK/err" || fail "unknown template: $rc $(cat "$WORK/err")"
	rc=0
	"$HEARTH" run --template nosuch --memory 1G 2>"$WORK/err" >/dev/null || rc=$?
	[ $rc = 2 ] && grep -q -- "--memory comes from the template" "$WORK/err" || fail "--memory: $rc $(cat "$WORK/err")"
	nothing_left
	# The builder's name belongs to a guest already: refused, that guest kept.
	"$HEARTH" run --rootfs "$HELLO" --memory 256 --cpus 1 --name template-mine >/dev/null
	rc=0
	"$HEARTH" template create mine --rootfs "$HELLO" 2>"$WORK/err" >/dev/null || rc=$?
	[ $rc = 1 ] && grep -q "a guest named template-mine exists" "$WORK/err" || fail "builder name taken: $rc $(cat "$WORK/err")"
	[ "$(status_field template-mine status)" = running ] || fail "the guest named like the builder was touched"
	[ ! -e "$HEARTH_STATE_DIR/templates/mine" ] || fail "template made anyway"
	"$HEARTH" rm -f template-mine >/dev/null
}

test_snapshot_disk_full() {
	need_qemu
	mkdir -p "$WORK/full"
	mount -t tmpfs -o size=4M tmpfs "$WORK/full" || skip "cannot mount a tmpfs"
	"$HEARTH" run --rootfs "$HELLO" --memory 256 --cpus 1 --name full >/dev/null
	local rc=0
	"$HEARTH" snapshot create full "$WORK/full/s" 2>"$WORK/err" >/dev/null || rc=$?
	[ $rc != 0 ] || fail "snapshot into a full disk succeeded"
	grep -q "No space left on device" "$WORK/err" || fail "error: $(cat "$WORK/err")"
	[ ! -e "$WORK/full/s" ] || fail "half-made snapshot left: $(ls -la "$WORK/full/s")"
	[ "$(status_field full status)" = running ] || fail "guest not running on"
	in_guest full true || fail "guest does not answer after the failed snapshot"
	"$HEARTH" rm -f full >/dev/null
	umount "$WORK/full"
}

# A readiness probe on a template: a held workload meets it only after
# the restore lets it go, so the builder waits for hearth-init's line and
# each guest for the probe; a template taken from a running guest logged
# its line before the snapshot, so its guests are ready on the identity.
test_template_probes() {
	need_qemu
	local t0 rc
	"$HEARTH" template create probed --rootfs "$HELLO" --memory 256 --cpus 1 --ready 'log:serving http' \
		--timeout 60 >/dev/null || fail "template with a log probe not made"
	"$HEARTH" run --template probed --name p1 --timeout 20 >/dev/null || fail "run --template with a log probe"
	"$HEARTH" logs p1 | grep -q "serving http on port 80" || fail "p1 ready before its workload served"
	"$HEARTH" run --rootfs "$HELLO" --memory 256 --cpus 1 --name live --ready 'log:serving http' >/dev/null
	"$HEARTH" template create fromlive --from live >/dev/null
	t0=$(date +%s)
	"$HEARTH" run --template fromlive --name p2 --timeout 20 >/dev/null || fail "template --from a logged guest never ready"
	[ $(($(date +%s) - t0)) -lt 15 ] || fail "p2 waited for a log line it had printed before the snapshot"
	[ "$(status_field p2 status)" = running ] || fail "p2 not running"
	[ "$(in_guest p2 hostname)" = p2 ] || fail "p2 kept the source's name"
	"$HEARTH" rm -f p1 p2 live >/dev/null
	"$HEARTH" template rm probed >/dev/null
	"$HEARTH" template rm fromlive >/dev/null
	# A backend that cannot give a clone its identity: refused before any
	# boot, nothing made.
	docker version >/dev/null 2>&1 || skip "dockerd not running"
	rc=0
	"$HEARTH" template create dock --backend docker --rootfs "$HELLO" 2>"$WORK/err" >/dev/null || rc=$?
	[ $rc = 2 ] && [ "$(wc -l <"$WORK/err")" = 1 ] &&
		grep -q "the docker backend cannot give a restored guest an identity" "$WORK/err" ||
		fail "docker template: $rc $(cat "$WORK/err")"
	[ ! -e "$HEARTH_STATE_DIR/templates/dock" ] || fail "template made anyway"
	nothing_left
}

t test_ten_guests_from_a_template
t test_clone_keeps_memory
t test_snapshot_create_restore
t test_restore_refuses_bad_snapshots
t test_snapshot_disk_full
t test_template_probes
report
