#!/usr/bin/env bash
# The Firecracker backend against real Firecracker releases and the real
# jailer, as far as they run on this host: every configuration request
# accepted by the release's own code, InstanceStart reached, and what
# hearth does when the VMM then dies (on nested KVM here the vCPU hits
# KVM_EXIT_INTERNAL_ERROR a few seconds in; on some CPUs a release
# refuses InstanceStart instead). Where KVM really runs guests the same
# tests see the guest come up and stop it.
#
# Binaries: $HEARTH_TEST_FIRECRACKER (one binary), else every
# firecracker-v* in $HEARTH_TEST_FIRECRACKER_DIR (default: the shared
# directory beside the checkout); the jailer: $HEARTH_TEST_JAILER, else
# jailer-v* there. Runs in a network namespace it makes and removes.
. "$(dirname "$0")/../lib.sh"

new_state
WORK=$(mktemp -d /tmp/hearth-fcr.XXXXXX)
trap 'cleanup_ns; rm -rf "$WORK"' EXIT
HELLO=$GUEST/hello.ext4
export HEARTH_BRIDGE_CIDR=10.77.0.0/24
FC_DIR=${HEARTH_TEST_FIRECRACKER_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/../shared/firecracker}

if [ -n "${HEARTH_TEST_FIRECRACKER:-}" ]; then
	BINARIES=("$HEARTH_TEST_FIRECRACKER")
else
	BINARIES=()
	for f in "$FC_DIR"/firecracker-v*; do
		[[ -x $f && $f != *.yaml ]] && BINARIES+=("$f")
	done
fi
JAILER=${HEARTH_TEST_JAILER:-$(ls "$FC_DIR"/jailer-v* 2>/dev/null | head -n 1)}

need_real() {
	[ "$(id -u)" = 0 ] || skip "TAP networking and the jailer need root"
	[ -c /dev/kvm ] || skip "no /dev/kvm: Firecracker cannot start a VM here"
	[ -x "$1" ] || skip "no real firecracker (set HEARTH_TEST_FIRECRACKER or HEARTH_TEST_FIRECRACKER_DIR)"
	netns_up
}

# nsenter, not `ip netns exec`: that one mounts a sysfs of its own,
# without the cgroup hierarchies the jailer needs.
fc() {
	nsenter --net="/var/run/netns/$NS" "$HEARTH" "$@"
}

version_of() {
	"$1" --version 2>/dev/null | sed -n 's/^Firecracker v\([0-9.]*\).*/\1/p' | head -n 1
}

# The requests a real Firecracker logged (its logger, at Info), one
# "METHOD PATH ok" or "METHOD PATH fault: MESSAGE" per line.
api_log() {
	python3 - "$1" <<'PY'
import re, sys
pending = None
for line in open(sys.argv[1], errors="replace"):
    m = re.search(r'The API server received a (\w+) request on "([^"]+)"', line)
    if m:
        pending = f"{m.group(1).upper()} {m.group(2)}"
        continue
    if pending and "[" in line and "fc_api]" in line:
        if "executed successfully" in line:
            print(pending, "ok")
        else:
            print(pending, "fault:", line.split("] ", 1)[-1].strip())
        pending = None
PY
}

# Nothing of NAME runs, holds a TAP, a port or a socket.
assert_nothing_running() {
	local name=$1 port=${2:-}
	! pgrep -f "$HEARTH_STATE_DIR" >/dev/null || fail "process left: $(pgrep -af "$HEARTH_STATE_DIR")"
	[ -z "$(in_ns ip -o link show type tun)" ] || fail "TAP left: $(in_ns ip -o link show type tun)"
	[ -z "$port" ] || ! in_ns ss -ltnH | grep -q ":$port " || fail "proxy left on $port"
	[ -z "$(find "$HEARTH_STATE_DIR/vms/$name" -type s 2>/dev/null)" ] ||
		fail "socket left: $(find "$HEARTH_STATE_DIR/vms/$name" -type s)"
	[ ! -e "$HEARTH_STATE_DIR/vms/$name/secrets.img" ] || fail "secrets drive left"
	[ ! -e "$HEARTH_STATE_DIR/vms/$name/jail" ] || fail "jail left"
	[ -z "$(ls -d /sys/fs/cgroup/hearth-*/"$name" /sys/fs/cgroup/*/hearth-*/"$name" 2>/dev/null)" ] ||
		fail "cgroup left: $(ls -d /sys/fs/cgroup/hearth-*/"$name" /sys/fs/cgroup/*/hearth-*/"$name" 2>/dev/null)"
}

assert_removed() {
	[ ! -e "$HEARTH_STATE_DIR/vms/$1" ] || fail "state left: $(ls "$HEARTH_STATE_DIR/vms/$1")"
	assert_nothing_running "$1"
}

# Waits until NAME has left "starting" (the VMM died or the guest came up).
wait_settled() {
	wait_for '[ "$(status_field '"$1"' status)" != starting ]' "${2:-60}"
}

# The whole configuration sequence, every request accepted by the
# release's own code, InstanceStart reached; then the VMM's end is
# recorded, its logs kept, and nothing of it left running.
real_sequence() {
	local fc=$1 v rc=0 out name
	need_real "$fc"
	v=$(version_of "$fc")
	name=seq-${v//./-}
	echo "mode=real" >"$WORK/app.conf"
	(umask 077 && echo "s3cr3t-real" >"$WORK/token")
	rm -f "$WORK/path.img" && truncate -s 8M "$WORK/path.img"
	out=$(HEARTH_FIRECRACKER=$fc fc run --backend firecracker --rootfs "$HELLO" --name $name -p 18280:80 \
		--memory 256 --cpus 1 --config-file "app.conf=$WORK/app.conf" --secret-file "token=$WORK/token" \
		-v data:/data:16M -v "$WORK/path.img:/p" --timeout 60 2>&1) || rc=$?
	api_log "$HEARTH_STATE_DIR/vms/$name/firecracker.log" >"$WORK/api.txt"
	# The logger's own request precedes its log; the rest is in it.
	local want="PUT /boot-source ok;PUT /machine-config ok;PUT /drives/rootfs ok;PUT /drives/hearth_config ok;PUT /drives/hearth_secrets ok;PUT /drives/hearth_vol0 ok;PUT /drives/hearth_vol1 ok;PUT /network-interfaces/eth0 ok;PUT /vsock ok;"
	[ "$(head -n 9 "$WORK/api.txt" | tr '\n' ';')" = "$want" ] || fail "$v: requests: $(cat "$WORK/api.txt")"
	sed -n 10p "$WORK/api.txt" | grep -q '^PUT /actions ' || fail "$v: InstanceStart not reached: $(cat "$WORK/api.txt")"
	grep -q '"action_type\\":\\"InstanceStart' "$HEARTH_STATE_DIR/vms/$name/firecracker.log" || fail "$v: no InstanceStart body"
	! grep -rq s3cr3t "$HEARTH_STATE_DIR/vms/$name"/*.log || fail "$v: the secret is in a log"
	"$HEARTH" logs --hypervisor $name | grep -q "InstanceStart" || fail "$v: hypervisor log: $("$HEARTH" logs --hypervisor $name | tail -n 3)"
	if [ $rc = 0 ]; then
		# KVM runs guests here: the guest came up.
		[ "$(in_ns curl -s -m 5 http://127.0.0.1:18280/)" = "hello from hearth $name" ] || fail "$v: page"
		"$HEARTH" ping $name >/dev/null || fail "$v: ping over vsock"
		fc stop $name >/dev/null
		[ "$(status_field $name status)" = stopped ] || fail "$v: not stopped"
	else
		[ $rc = 1 ] || fail "$v: exit $rc: $out"
		echo "$out" | head -n 1 | grep -q "^hearth: error: $name: " || fail "$v: $out"
		[ "$(status_field $name status)" = failed ] || fail "$v: status $(status_field $name status)"
		local reason
		reason=$(status_field $name reason)
		# How the guest dies on nested KVM varies: the VMM's own error, or
		# a guest kernel that resets; either is a reason, never "".
		[ -n "$reason" ] && [ "$reason" != None ] || fail "$v: no reason"
		# The reason is the VMM's own cause, where it gave one.
		if grep -q KVM_EXIT_INTERNAL_ERROR "$HEARTH_STATE_DIR/vms/$name/firecracker.log"; then
			[[ $reason == *KVM_EXIT_INTERNAL_ERROR* ]] || fail "$v: reason hides the cause: $reason"
		fi
		echo "$out" | grep -qF "$reason" || fail "$v: the error does not say why: $out"
	fi
	assert_nothing_running $name 18280
	fc rm $name >/dev/null
	assert_removed $name
}

# A kernel Firecracker cannot load: its own 400 at InstanceStart, in one
# line; the guest kept as failed with that reason until rm.
real_bad_kernel() {
	local fc=$1 v rc=0 out name=badk
	need_real "$fc"
	v=$(version_of "$fc")
	out=$(HEARTH_FIRECRACKER=$fc fc run --backend firecracker --rootfs "$HELLO" --kernel "$GUEST/bzImage" \
		--name $name -p 18281:80 2>&1) || rc=$?
	[ $rc = 1 ] || fail "$v: exit $rc: $out"
	[ "$(echo "$out" | wc -l)" = 1 ] || fail "$v: not one line: $out"
	echo "$out" | grep -q '^hearth: error: badk: firecracker: PUT /actions {"action_type":"InstanceStart"}: 400 .*ELF' ||
		fail "$v: $out"
	echo "$out" | grep -q '(kept as failed: hearth logs --hypervisor badk; hearth rm badk)$' || fail "$v: $out"
	[ "$(status_field $name status)" = failed ] || fail "$v: status"
	status_field $name reason | grep -q 'ELF' || fail "$v: reason: $(status_field $name reason)"
	"$HEARTH" logs --hypervisor $name | grep -q 'failed to load ELF kernel image' || fail "$v: the log the error names"
	assert_nothing_running $name 18281
	fc rm $name >/dev/null
	assert_removed $name
}

# The VMM dying in the middle of its configuration, for real: with a
# 1 KiB file size limit the real firecracker is killed (SIGXFSZ) by the
# kernel as its logger passes 1 KiB, a few requests in, the same one
# every time. The request that broke is named, the guest kept as failed
# with the VMM's end as reason, nothing left running.
real_dies_mid_configuration() {
	local fc=$1 v rc=0 out name=dies
	need_real "$fc"
	v=$(version_of "$fc")
	printf '#!/bin/bash\nulimit -f 1\nexec "%s" "$@"\n' "$fc" >"$WORK/fc-dies"
	chmod +x "$WORK/fc-dies"
	out=$(HEARTH_FIRECRACKER=$WORK/fc-dies fc run --backend firecracker --rootfs "$HELLO" --name $name 2>&1) || rc=$?
	[ $rc = 1 ] || fail "$v: exit $rc: $out"
	echo "$out" | grep -Eq '^hearth: error: dies: firecracker: PUT /(boot-source|machine-config|drives/[a-z_0-9]+): ' ||
		fail "$v: $out"
	! echo "$out" | grep -q 'InstanceStart' || fail "$v: died too late: $out"
	[ "$(stat -c %s "$HEARTH_STATE_DIR/vms/$name/firecracker.log")" -le 1024 ] || fail "$v: the limit did not hold"
	[ "$(status_field $name status)" = failed ] || fail "$v: status"
	assert_nothing_running $name
	fc rm $name >/dev/null
	assert_removed $name
}

# The real binary exiting at once (an argument it refuses): said within
# moments, its own words in the hypervisor log, kept as failed until rm.
real_exits_at_once() {
	local fc=$1 v rc=0 out name=early
	need_real "$fc"
	v=$(version_of "$fc")
	printf '#!/bin/sh\n[ "$1" = --version ] && exec "%s" --version\nexec "%s" --no-such-flag "$@"\n' "$fc" "$fc" \
		>"$WORK/fc-early"
	chmod +x "$WORK/fc-early"
	out=$(HEARTH_FIRECRACKER=$WORK/fc-early fc run --backend firecracker --rootfs "$HELLO" --name $name 2>&1) || rc=$?
	[ $rc = 1 ] || fail "$v: exit $rc: $out"
	echo "$out" | grep -q '^hearth: error: early: firecracker: exited before its API socket appeared' || fail "$v: $out"
	"$HEARTH" logs --hypervisor $name | grep -q 'no-such-flag' || fail "$v: its words: $("$HEARTH" logs --hypervisor $name)"
	[ "$(status_field $name status)" = failed ] || fail "$v: status"
	assert_nothing_running $name
	fc rm $name >/dev/null
	assert_removed $name
}

# The real jailer: the VMM runs as the jail's user in its chroot, in
# cgroups of the host's cgroup version with the guest's limits, answers
# on the chroot's socket, accepts the whole sequence with volumes and
# config/secret drives reached inside the jail; nothing left after rm.
real_jailer() {
	local fc=$1 v name=jailed
	need_real "$fc"
	[ -x "$JAILER" ] || skip "no real jailer (set HEARTH_TEST_JAILER)"
	v=$(version_of "$fc")
	rm -f "$WORK/jpath.img" && truncate -s 8M "$WORK/jpath.img" && chown 65534:65534 "$WORK/jpath.img"
	echo "mode=jailed" >"$WORK/app.conf"
	(umask 077 && echo "s3cr3t-jail" >"$WORK/token")
	HEARTH_FIRECRACKER=$fc fc run --backend firecracker --jailer "$JAILER" --jail-uid 65534 --jail-gid 65534 \
		--rootfs "$HELLO" --name $name -p 18282:80 --memory 256 --cpus 1 -v data:/data:16M -v "$WORK/jpath.img:/p" \
		--config-file "app.conf=$WORK/app.conf" --secret-file "token=$WORK/token" --no-wait >/dev/null ||
		fail "$v: run: $("$HEARTH" status $name 2>&1)"
	local root=$HEARTH_STATE_DIR/vms/$name/jail/${fc##*/}/$name/root
	api_log "$HEARTH_STATE_DIR/vms/$name/firecracker.log" >"$WORK/japi.txt"
	# The logger's own request precedes its log; the rest is in it.
	local want="PUT /boot-source ok;PUT /machine-config ok;PUT /drives/rootfs ok;PUT /drives/hearth_config ok;PUT /drives/hearth_secrets ok;PUT /drives/hearth_vol0 ok;PUT /drives/hearth_vol1 ok;PUT /network-interfaces/eth0 ok;PUT /vsock ok;"
	[ "$(head -n 9 "$WORK/japi.txt" | tr '\n' ';')" = "$want" ] || fail "$v: jailed requests: $(cat "$WORK/japi.txt")"
	sed -n 10p "$WORK/japi.txt" | grep -q '^PUT /actions ' || fail "$v: InstanceStart not reached"
	local pid state
	pid=$(status_field $name vmm_pid)
	state=$(status_field $name status)
	if [ "$state" = starting ] || [ "$state" = running ]; then
		# The VMM as it runs: the jail's user, chrooted, in its cgroups.
		[ "$(ps -o user= -p "$pid")" = nobody ] || fail "$v: VMM runs as $(ps -o user= -p "$pid")"
		[ "$(stat -c %i /proc/"$pid"/root/firecracker.sock)" = "$(stat -c %i "$root/firecracker.sock")" ] ||
			fail "$v: the VMM's / is not the jail's root"
		curl -sf --unix-socket "$root/firecracker.sock" http://localhost/ | grep -q '"vmm_version":"'"$v"'"' ||
			fail "$v: the API does not answer on the chroot's socket"
		local mem cg
		cg=$(grep -E ':memory:|^0::' /proc/"$pid"/cgroup | head -n 1 | cut -d: -f3)
		[[ $cg == /hearth-*/$name ]] || fail "$v: not in hearth's cgroup: $cg"
		if [ -e /sys/fs/cgroup/cgroup.controllers ]; then
			mem=$(cat /sys/fs/cgroup"$cg"/memory.max)
		else
			mem=$(cat /sys/fs/cgroup/memory"$cg"/memory.limit_in_bytes)
		fi
		[ "$mem" = $(((256 + 64) << 20)) ] || fail "$v: memory limit $mem"
	fi
	[ "$(stat -c %U "$root/rootfs.img")" = nobody ] || fail "$v: rootfs not the jail user's"
	[ "$(stat -c %U "$GUEST/vmlinux")" = root ] || fail "$v: the build's kernel changed owner"
	[ "$(stat -c %i "$root/vol1.img")" = "$(stat -c %i "$WORK/jpath.img")" ] || fail "$v: path volume not the same file"
	[ "$(stat -c %U "$WORK/jpath.img")" = nobody ] || fail "$v: path volume changed owner"
	wait_settled $name
	fc rm -f $name >/dev/null
	assert_removed $name
	# A path volume the jail's user cannot open: refused before anything runs.
	chown 0:0 "$WORK/jpath.img" && chmod 600 "$WORK/jpath.img"
	local rc=0 out
	out=$(HEARTH_FIRECRACKER=$fc fc run --backend firecracker --jailer "$JAILER" --jail-uid 65534 --jail-gid 65534 \
		--rootfs "$HELLO" --name jbad -v "$WORK/jpath.img:/p" 2>&1) || rc=$?
	[ $rc = 2 ] && [ "$out" = "hearth: error: volumes: the jail's user 65534:65534 cannot open it for writing ($WORK/jpath.img)" ] ||
		fail "$v: exit $rc: $out"
	assert_removed jbad
	# Without cgroups in the mount namespace (ip netns exec remounts /sys)
	# the jailer cannot work: said before anything runs.
	rc=0
	out=$(HEARTH_FIRECRACKER=$fc in_ns "$HEARTH" run --backend firecracker --jailer "$JAILER" --jail-uid 65534 \
		--jail-gid 65534 --rootfs "$HELLO" --name jnocg 2>&1) || rc=$?
	[ $rc = 2 ] && echo "$out" | grep -q '^hearth: error: jailer: no cgroup hierarchy is mounted here' ||
		fail "$v: exit $rc: $out"
	assert_removed jnocg
}

# Snapshots with the real binary, of a guest still booting (before the
# vCPU dies here): pause, create, resume accepted; restored into another
# state root, whose TAP differs, with network_overrides from 1.12 on, and
# refused before anything runs on older releases. JAIL: under the jailer.
real_snapshot() {
	local fc=$1 jail=${2:-} v rc=0 out name=snap dir=$WORK/snap-$RANDOM
	need_real "$fc"
	local jargs=()
	if [ -n "$jail" ]; then
		[ -x "$JAILER" ] || skip "no real jailer (set HEARTH_TEST_JAILER)"
		jargs=(--jailer "$JAILER" --jail-uid 65534 --jail-gid 65534)
	fi
	v=$(version_of "$fc")
	HEARTH_FIRECRACKER=$fc fc run --backend firecracker "${jargs[@]}" --rootfs "$HELLO" --name $name --memory 128 \
		--cpus 1 -v data:/data:8M --no-wait >/dev/null || fail "$v: run"
	HEARTH_FIRECRACKER=$fc "$HEARTH" snapshot create $name "$dir" >/dev/null || fail "$v: snapshot create"
	api_log "$HEARTH_STATE_DIR/vms/$name/firecracker.log" | grep -E 'PATCH /vm|/snapshot' | tr '\n' ';' >"$WORK/sapi.txt"
	[ "$(cat "$WORK/sapi.txt")" = "PATCH /vm ok;PUT /snapshot/create ok;PATCH /vm ok;" ] ||
		fail "$v: snapshot requests: $(cat "$WORK/sapi.txt")"
	local f
	for f in vmstate memory rootfs.img config.img secrets.img hearth.json volumes/data.img; do
		[ -s "$dir/$f" ] || fail "$v: no $f"
		[ "$(stat -c '%a %U' "$dir/$f")" = "600 root" ] || fail "$v: $f is $(stat -c '%a %U' "$dir/$f")"
	done
	fc rm -f $name >/dev/null
	assert_removed $name
	local other=$WORK/root-$RANDOM
	out=$(HEARTH_STATE_DIR=$other HEARTH_FIRECRACKER=$fc fc snapshot restore "$dir" --name snapb "${jargs[@]}" 2>&1) ||
		rc=$?
	if [[ $v == 1.[0-9].* || $v == 1.1[01].* ]]; then
		[ $rc = 2 ] && echo "$out" | grep -q "firecracker $v cannot override it on restore" || fail "$v: exit $rc: $out"
		[ -z "$(ls "$other/vms" 2>/dev/null)" ] || fail "$v: state left by the refused restore"
	else
		[ $rc = 0 ] || fail "$v: restore: exit $rc: $out"
		api_log "$other/vms/snapb/firecracker.log" | grep -q '^PUT /snapshot/load ok' || fail "$v: load not accepted"
		grep 'request on "/snapshot/load"' "$other/vms/snapb/firecracker.log" | grep -q 'network_overrides' ||
			fail "$v: no network_overrides sent"
		[ "$(HEARTH_STATE_DIR=$other status_field snapb status)" != stopped ] || fail "$v: restored guest stopped"
		HEARTH_STATE_DIR=$other fc rm -f snapb >/dev/null
		[ ! -e "$other/vms/snapb" ] || fail "$v: restored guest left"
	fi
	assert_nothing_running snapb
}

# hearth backends reads the real release's version.
real_backends() {
	local fc=$1
	need_real "$fc"
	HEARTH_FIRECRACKER=$fc "$HEARTH" backends | grep -Eq "^firecracker +available +$(version_of "$fc" | sed 's/\./\\./g') " ||
		fail "backends: $(HEARTH_FIRECRACKER=$fc "$HEARTH" backends)"
}

if [ ${#BINARIES[@]} = 0 ]; then
	test_real_firecracker() { skip "no real firecracker in $FC_DIR (set HEARTH_TEST_FIRECRACKER)"; }
	t test_real_firecracker
fi
for fc in "${BINARIES[@]}"; do
	v=$(version_of "$fc")
	id=v${v//./_}
	for kind in sequence bad_kernel dies_mid_configuration exits_at_once snapshot backends; do
		eval "test_real_${kind}_$id() { real_$kind '$fc'; }"
		t "test_real_${kind}_$id"
	done
	# The jailer runs the releases it was made for: v1.0's with 1.14.
	if [[ $v == 1.1[0-9].* ]]; then
		eval "test_real_jailer_$id() { real_jailer '$fc'; }"
		t "test_real_jailer_$id"
		eval "test_real_snapshot_jailed_$id() { real_snapshot '$fc' jailed; }"
		t "test_real_snapshot_jailed_$id"
	fi
done
report
