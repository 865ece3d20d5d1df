#!/usr/bin/env bash
# Readiness probes (#11): `hearth run` returns when the guest's service
# answers, not when hearth-init is up; status says running only then.
# Real QEMU guests and a Docker container, a workload that starts its
# server late.
. "$(dirname "$0")/../lib.sh"

new_state
WORK=$(mktemp -d /tmp/hearth-ready.XXXXXX)
trap 'cleanup_state; rm -rf "$WORK"' EXIT
HELLO=$GUEST/hello.ext4

need_qemu() {
	command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 missing"
	[ -s "$HELLO" ] || fail "build the guest kit first (make)"
}

# The hello guest with a server that comes up 3 s after hearth-init.
late_image() {
	[ -s "$WORK/late.ext4" ] && return 0
	mkdir -p "$WORK/late/etc/hearth"
	printf '#!/bin/sh\nmkdir -p /run/www\necho late >/run/www/index.html\nsleep 3\necho "late: serving"\nexec httpd -f -p 80 -h /run/www\n' \
		>"$WORK/late/etc/hearth/start"
	chmod 755 "$WORK/late/etc/hearth/start"
	"$(dirname "$0")/../../examples/hello/build.sh" "$GUEST/hearth-init" "$WORK/late.ext4" "$WORK/late" >/dev/null
}

test_ready_http() {
	need_qemu
	late_image
	local port
	port=$(free_port)
	"$HEARTH" run --rootfs "$WORK/late.ext4" --name h -p "$port:80" --memory 128 --ready http:80/ >/dev/null
	# The very first request after run returns is answered.
	[ "$(curl -sf -m 5 "http://127.0.0.1:$port/")" = late ] || fail "not serving when run returned"
	[ "$("$HEARTH" status h)" = running ] || fail "status: $("$HEARTH" status h)"
	"$HEARTH" inspect h | grep -q '"ready": "http:80/"' || fail "inspect lacks the probe"
	# run -f of what inspect printed keeps the probe.
	"$HEARTH" inspect h | sed 's/"name": "h"/"name": "h2"/' | sed "s/\"host\": $port/\"host\": $(free_port)/" >"$WORK/h2.json"
	"$HEARTH" run -f "$WORK/h2.json" >/dev/null
	"$HEARTH" inspect h2 | grep -q '"ready": "http:80/"' || fail "run -f dropped the probe"
	"$HEARTH" rm -f h h2 >/dev/null
}

test_ready_without_it_is_early() {
	need_qemu
	late_image
	local port
	port=$(free_port)
	# The default waits for hearth-init alone: the server is not up yet.
	"$HEARTH" run --rootfs "$WORK/late.ext4" --name early -p "$port:80" --memory 128 >/dev/null
	! curl -sf -m 2 "http://127.0.0.1:$port/" >/dev/null || fail "the late server was up already: the test shows nothing"
	"$HEARTH" rm -f early >/dev/null
}

test_ready_tcp_and_no_wait() {
	need_qemu
	late_image
	local port
	port=$(free_port)
	"$HEARTH" run --rootfs "$WORK/late.ext4" --name t -p "$port:80" --memory 128 --ready tcp:80 --no-wait >/dev/null
	# QEMU's forwarder accepts at once; the probe tells it from a listener.
	[ "$("$HEARTH" status t)" = starting ] || fail "running before the server: $("$HEARTH" status t)"
	wait_for "[ \"\$(\"$HEARTH\" status t)\" = running ]" 30
	curl -sf -m 5 "http://127.0.0.1:$port/" >/dev/null || fail "status said running before the port answered"
	"$HEARTH" rm -f t >/dev/null
}

test_ready_log_exec_none() {
	need_qemu
	late_image
	"$HEARTH" run --rootfs "$WORK/late.ext4" --name l --memory 128 --ready 'log:^late: serving' >/dev/null
	"$HEARTH" logs l | grep -q 'late: serving' || fail "log probe passed before its line"
	"$HEARTH" run --rootfs "$WORK/late.ext4" --name x --memory 128 --ready 'exec:pidof httpd' >/dev/null
	"$HEARTH" exec x pidof httpd >/dev/null || fail "exec probe passed before httpd ran"
	"$HEARTH" run --rootfs "$WORK/late.ext4" --name n --memory 128 --ready none >/dev/null
	[ "$("$HEARTH" status n)" = running ] || fail "none: $("$HEARTH" status n)"
	"$HEARTH" rm -f l x n >/dev/null
}

# A guest with no hearth-init at all (its init prints no ready line)
# still starts, with a probe that does not need it.
test_ready_without_hearth_init() {
	need_qemu
	mkdir -p "$WORK/bare/sbin"
	printf '#!/bin/sh\nmount -t proc proc /proc\nmkdir -p /run/www\necho bare >/run/www/index.html\nifconfig eth0 10.0.2.15 netmask 255.255.255.0 up\nexec httpd -f -p 80 -h /run/www\n' >"$WORK/bare-init"
	chmod 755 "$WORK/bare-init"
	"$(dirname "$0")/../../examples/hello/build.sh" "$WORK/bare-init" "$WORK/bare.ext4" >/dev/null
	local port rc=0
	port=$(free_port)
	"$HEARTH" run --rootfs "$WORK/bare.ext4" --name bare -p "$port:80" --memory 128 --ready http:80/ --timeout 60 \
		>/dev/null 2>"$WORK/err" || rc=$?
	[ $rc = 0 ] || fail "exit $rc: $(cat "$WORK/err")"
	[ "$(curl -sf -m 5 "http://127.0.0.1:$port/")" = bare ] || fail "not serving"
	"$HEARTH" rm -f bare >/dev/null
}

test_ready_refused() {
	need_qemu
	local rc=0
	"$HEARTH" run --rootfs "$HELLO" --name r --ready tcp:80 2>"$WORK/err" || rc=$?
	[ $rc = 2 ] && grep -q "ready: the guest's port 80 is not published" "$WORK/err" || fail "exit $rc: $(cat "$WORK/err")"
	for bad in 'tcp:0' 'tcp:80x' 'http:80path' 'log:(' 'exec:' 'smoke'; do
		rc=0
		"$HEARTH" run --rootfs "$HELLO" --name r -p 18333:80 --ready "$bad" 2>"$WORK/err" || rc=$?
		[ $rc = 2 ] && grep -q "^hearth: error: ready: .*($bad)" "$WORK/err" || fail "$bad: exit $rc: $(cat "$WORK/err")"
	done
	[ -z "$(ls "$HEARTH_STATE_DIR/vms")" ] || fail "state left"
	# A probe that never passes: run fails at its timeout, saying why.
	rc=0
	"$HEARTH" run --rootfs "$HELLO" --name never -p "$(free_port):81" --memory 128 --ready tcp:81 --timeout 5 \
		2>"$WORK/err" || rc=$?
	[ $rc = 1 ] && grep -q "not ready within 5 s (ready tcp:81: connect: " "$WORK/err" || fail "exit $rc: $(cat "$WORK/err")"
	"$HEARTH" rm -f never >/dev/null 2>&1 || true
}

test_ready_docker() {
	command -v docker >/dev/null && docker version >/dev/null 2>&1 || skip "dockerd not running"
	late_image
	local port
	port=$(free_port)
	"$HEARTH" run --backend docker --rootfs "$WORK/late.ext4" --name dh -p "$port:80" --ready http:80/ >/dev/null
	[ "$(curl -sf -m 5 "http://127.0.0.1:$port/")" = late ] || fail "not serving when run returned"
	[ "$("$HEARTH" status dh)" = running ] || fail "status: $("$HEARTH" status dh)"
	"$HEARTH" run --backend docker --rootfs "$WORK/late.ext4" --name dl --ready 'log:late: serving' >/dev/null
	"$HEARTH" logs dl | grep -q 'late: serving' || fail "log probe passed before its line"
	"$HEARTH" rm -f dh dl >/dev/null
}

t test_ready_http
t test_ready_without_it_is_early
t test_ready_tcp_and_no_wait
t test_ready_log_exec_none
t test_ready_without_hearth_init
t test_ready_refused
t test_ready_docker
report
