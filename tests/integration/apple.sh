#!/usr/bin/env bash
# The apple-container backend against tests/apple/container, a double of
# Apple's `container` CLI 1.2.2 written from its reference, which runs the
# guests for real under dockerd. Every test also fails when hearth sent
# the double anything the reference lacks (its usage-errors.log).
. "$(dirname "$0")/../lib.sh"

new_state
WORK=$(mktemp -d /tmp/hearth-apple.XXXXXX)
export CONTAINER_DOUBLE_ROOT=$WORK/double
mkdir -p "$CONTAINER_DOUBLE_ROOT"
DOUBLE_DIR=$(cd "$(dirname "$0")/../apple" && pwd)
export PATH=$DOUBLE_DIR:$PATH
trap 'cleanup_state; docker ps -aq --filter "label=hearth.test.apple-double=$CONTAINER_DOUBLE_ROOT" | xargs -r docker rm -f >/dev/null; docker images -q "hearth.local/*" | sort -u | xargs -r docker rmi -f >/dev/null 2>&1; rm -rf "$WORK"' EXIT
HELLO=$GUEST/hello.ext4
AC=(--backend apple-container)

need_double() {
	command -v docker >/dev/null || skip "docker missing (apt-get install docker.io)"
	docker version >/dev/null 2>&1 || skip "dockerd not running"
	command -v python3 >/dev/null || skip "python3 missing"
	[ -s "$HELLO" ] || fail "build the guest kit first (make)"
	container system start >/dev/null
}

# What hearth sent that the reference lacks: each test ends with none.
no_usage_errors() {
	[ ! -s "$CONTAINER_DOUBLE_ROOT/usage-errors.log" ] ||
		fail "hearth sent what the container CLI rejects: $(cat "$CONTAINER_DOUBLE_ROOT/usage-errors.log")"
}

# Nothing of guest NAME anywhere: no hearth state, no container of the
# double's, no Docker container under it.
nothing_left() {
	[ ! -e "$HEARTH_STATE_DIR/vms/$1" ] || fail "state left: $(ls -la "$HEARTH_STATE_DIR/vms/$1")"
	[ ! -e "$CONTAINER_DOUBLE_ROOT/containers/$1.json" ] || fail "the tool still has container $1"
	docker ps -aq --filter "name=^acd-$1\$" | grep -q . && fail "a Docker container acd-$1 left"
	return 0
}

test_apple_full_life() {
	need_double
	full_life alife
}

# The same life through the portable build (make portable-check): the
# hearth that macOS builds, compiled and linked here with compat.h's
# non-Linux side.
test_apple_portable_build() {
	need_double
	[ -x build-portable/hearth ] || skip "no portable build (make portable-check)"
	HEARTH=build-portable/hearth full_life plife
}

full_life() {
	local g=$1
	mkdir -p "$WORK/conf" "$WORK/share"
	echo "mode=apple" >"$WORK/conf/app.conf"
	echo shared >"$WORK/share/f"
	(umask 077 && echo "hunter2-apple" >"$WORK/token")
	local port
	port=$(free_port)
	"$HEARTH" run "${AC[@]}" --rootfs "$HELLO" --name $g -p "$port:80" --config-dir "$WORK/conf" \
		--secret-file "token=$WORK/token" -v "hearth-apple-vol-$g:/data:64M" -v "$WORK/share:/share:ro" \
		--memory 256 --cpus 1 >/dev/null
	wait_for "curl -sf http://127.0.0.1:$port/" 20
	[ "$(curl -s "http://127.0.0.1:$port/")" = "hello from hearth $g" ] || fail "page"
	local logs
	logs=$("$HEARTH" logs $g)
	echo "$logs" | grep -Eq 'hello: +-r--r--r-- +1 0 +0 .* app\.conf$' || fail "config not 0444: $logs"
	echo "$logs" | grep -Eq 'hello: +-r-------- +1 0 +0 .* token$' || fail "secret not 0400: $logs"
	echo "$logs" | grep -q 'hello:   mount .* /data ' || fail "volume not mounted: $logs"
	echo "$logs" | grep -q "hello: hostname $g" || fail "hostname: $logs"
	local sdir=$HEARTH_STATE_DIR/vms/$g/secrets
	[ "$(stat -c '%a %u' "$sdir")" = "700 0" ] || fail "secrets dir $(stat -c '%a %u' "$sdir")"
	[ "$(stat -c %a "$sdir/token")" = 400 ] || fail "secret file mode"
	# What the tool was asked for: the documented flags, the secret in
	# no argv, no Rosetta, labels and limits in its own JSON.
	grep -q hunter2-apple "$CONTAINER_DOUBLE_ROOT/calls.log" && fail "the secret reached an argv"
	grep -q -- --rosetta "$CONTAINER_DOUBLE_ROOT/calls.log" && fail "--rosetta sent"
	container inspect "$g" | python3 -c '
import json, sys
c, g = json.load(sys.stdin)[0], sys.argv[1]
conf = c["configuration"]
assert conf["labels"]["hearth.managed"] == "true" and conf["labels"]["hearth.name"] == g, conf["labels"]
assert conf["resources"] == {"cpus": 1, "memoryInBytes": 256 << 20}, conf["resources"]
p = conf["publishedPorts"][0]
assert p["hostAddress"] == "127.0.0.1" and p["containerPort"] == 80 and p["proto"] == "tcp", p
ro = {m["destination"]: m["options"] for m in conf["mounts"]}
assert ro["/mnt/config"] == ["ro"] and ro["/mnt/secrets"] == ["ro"] and ro["/share"] == ["ro"], ro
assert c["status"]["state"] == "running" and c["status"]["networks"], c["status"]' "$g" || fail "inspect"
	"$HEARTH" ps | grep -Eq "^$g +apple-container +running" || fail "ps: $("$HEARTH" ps)"
	# The tool's own listing of it: ManagedContainer JSON, as the sources print it.
	container ls --format json | python3 -c '
import json, sys
items = {c["id"]: c for c in json.load(sys.stdin)}
c = items[sys.argv[1]]
assert set(c) == {"id", "configuration", "status"}, c.keys()
assert c["configuration"]["id"] == c["id"] and c["status"]["state"] == "running", c["status"]
assert c["configuration"]["image"]["reference"].startswith("hearth.local/hello:"), c["configuration"]["image"]
assert c["status"]["startedDate"].endswith("Z"), c["status"]' "$g" || fail "container ls"
	# network_info from the tool's attachment.
	local ip
	ip=$(container inspect $g | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["status"]["networks"][0]["ipv4Address"])')
	[ "$(status_field $g guest_ip)" = "$ip" ] || fail "guest_ip $(status_field $g guest_ip) != $ip"
	# exec, cp and ping through the agent, carried by `container exec`.
	local rc=0
	"$HEARTH" exec $g -- sh -c 'cat /share/f; exit 7' >"$WORK/out" || rc=$?
	[ $rc = 7 ] || fail "exec exit $rc"
	grep -qx shared "$WORK/out" || fail "exec output: $(cat "$WORK/out")"
	echo "into the guest" >"$WORK/in"
	"$HEARTH" cp "$WORK/in" $g:/tmp/in
	"$HEARTH" exec $g -- cat /tmp/in | grep -qx "into the guest" || fail "cp in"
	"$HEARTH" cp $g:/tmp/in "$WORK/back"
	cmp "$WORK/in" "$WORK/back" || fail "cp out"
	"$HEARTH" ping $g | grep -q "^pong from $g" || fail "no pong: $("$HEARTH" ping $g 2>&1)"
	# logs: -f follows while it runs; -n 1 is the last line.
	rc=0
	timeout 2 "$HEARTH" logs -f $g >"$WORK/follow" || rc=$?
	[ $rc = 124 ] || fail "logs -f ended by itself (exit $rc)"
	grep -q 'hearth-init: ready' "$WORK/follow" || fail "logs -f printed nothing"
	"$HEARTH" logs -n 1 $g | grep -q 'serving http' || fail "logs -n 1: $("$HEARTH" logs -n 1 $g)"
	# What the tool cannot do is refused, and the guest goes on.
	rc=0
	"$HEARTH" pause $g 2>"$WORK/err" || rc=$?
	[ $rc != 0 ] && grep -q 'pause is not supported by the apple-container backend' "$WORK/err" ||
		fail "pause: exit $rc: $(cat "$WORK/err")"
	rc=0
	"$HEARTH" snapshot create $g "$WORK/snap" 2>"$WORK/err" || rc=$?
	[ $rc != 0 ] && grep -q 'snapshots are not supported by the apple-container backend' "$WORK/err" ||
		fail "snapshot: exit $rc: $(cat "$WORK/err")"
	[ ! -e "$WORK/snap" ] || fail "a snapshot directory was made"
	[ "$("$HEARTH" status $g)" = running ] || fail "status: $("$HEARTH" status $g)"
	"$HEARTH" stop $g >/dev/null
	[ "$("$HEARTH" status $g)" = "stopped by request" ] || fail "status: $("$HEARTH" status $g)"
	[ "$(status_field $g exit_code)" = 143 ] || fail "exit code: $(status_field $g exit_code)"
	container ls --quiet | grep -qx "$g" && fail "a stopped container in ls without --all"
	container ls --all --quiet | grep -qx "$g" || fail "the stopped container missing from ls --all"
	"$HEARTH" rm $g >/dev/null
	nothing_left $g
	# The named volume: made through `container volume create` of its
	# size, and kept when the guest goes.
	grep -qF "[\"volume\", \"create\", \"--label=hearth.managed=true\", \"-s\", \"67108864\", \"hearth-apple-vol-$g\"]" \
		"$CONTAINER_DOUBLE_ROOT/calls.log" || fail "volume create: $(grep volume "$CONTAINER_DOUBLE_ROOT/calls.log")"
	container volume inspect "hearth-apple-vol-$g" >/dev/null || fail "the named volume went with the guest"
	container volume delete "hearth-apple-vol-$g" >/dev/null
	no_usage_errors
}

test_apple_exit_code() {
	need_double
	"$HEARTH" run "${AC[@]}" --rootfs "$HELLO" --name aexit >/dev/null
	# The workload ends by itself (its httpd killed from inside): the
	# tool reports no exit code, hearth-init's last line says it.
	"$HEARTH" exec aexit -- killall httpd 2>/dev/null || true # the guest ends under the session
	wait_for "\"$HEARTH\" status aexit | grep -q 'exited on its own'" 20
	[ "$("$HEARTH" status aexit)" = "exited on its own with code 143" ] || fail "status: $("$HEARTH" status aexit)"
	"$HEARTH" logs aexit | grep -q 'hearth-init: exit 143' || fail "logs: $("$HEARTH" logs aexit)"
	"$HEARTH" rm aexit >/dev/null
	nothing_left aexit
	no_usage_errors
}

# hearth start: an ephemeral guest's container made anew, a persistent
# one's started again with what it wrote.
test_apple_restart() {
	need_double
	local port
	port=$(free_port)
	"$HEARTH" run "${AC[@]}" --rootfs "$HELLO" --name aeph -p "$port:80" >/dev/null
	# No time to stop: killed outright.
	"$HEARTH" stop --timeout 0 aeph >/dev/null
	grep -qxF '["kill", "aeph"]' "$CONTAINER_DOUBLE_ROOT/calls.log" || fail "stop --timeout 0 did not kill"
	[ "$("$HEARTH" status aeph)" = "stopped by request" ] || fail "status: $("$HEARTH" status aeph)"
	"$HEARTH" start aeph >/dev/null
	[ "$(curl -s "http://127.0.0.1:$port/")" = "hello from hearth aeph" ] || fail "page after start"
	"$HEARTH" run "${AC[@]}" --rootfs "$HELLO" --rootfs-mode persistent --name akeep >/dev/null
	"$HEARTH" exec akeep -- sh -c 'echo kept >/kept'
	"$HEARTH" stop akeep >/dev/null
	"$HEARTH" start akeep >/dev/null
	[ "$("$HEARTH" exec akeep -- cat /kept)" = kept ] || fail "the persistent guest lost its write"
	"$HEARTH" exec aeph -- cat /kept 2>/dev/null && fail "the ephemeral guest shares it"
	"$HEARTH" rm -f aeph akeep >/dev/null
	nothing_left aeph
	nothing_left akeep
	no_usage_errors
}

test_apple_image_loaded_once() {
	need_double
	"$HEARTH" run "${AC[@]}" --rootfs "$HELLO" --name once --memory 128 >/dev/null
	"$HEARTH" rm -f once >/dev/null
	"$HEARTH" run "${AC[@]}" --rootfs "$HELLO" --name twice --memory 128 >/dev/null
	"$HEARTH" rm -f twice >/dev/null
	local loads ref
	loads=$(grep -c '"image", "load"' "$CONTAINER_DOUBLE_ROOT/calls.log" || true)
	[ "$loads" -le 1 ] || fail "loaded $loads times for one rootfs"
	# Once loaded, a run asks the tool nothing before `container run`.
	: >"$CONTAINER_DOUBLE_ROOT/calls.log"
	"$HEARTH" run "${AC[@]}" --rootfs "$HELLO" --name thrice --memory 128 >/dev/null
	sed -n 1p "$CONTAINER_DOUBLE_ROOT/calls.log" | grep -q '^\["system", "status"' &&
		sed -n 2p "$CONTAINER_DOUBLE_ROOT/calls.log" | grep -q '^\["run", ' ||
		fail "calls before the run: $(head -n 3 "$CONTAINER_DOUBLE_ROOT/calls.log")"
	ref=$(container inspect thrice | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["configuration"]["image"]["reference"])')
	"$HEARTH" rm -f thrice >/dev/null
	# The image gone behind hearth's back: loaded again, and the run goes on.
	container image delete "$ref" >/dev/null
	"$HEARTH" run "${AC[@]}" --rootfs "$HELLO" --name again --memory 128 >/dev/null || fail "no run after the image went"
	"$HEARTH" rm -f again >/dev/null
	loads=$(grep -c '"image", "load"' "$CONTAINER_DOUBLE_ROOT/calls.log" || true)
	[ "$loads" = 1 ] || fail "not loaded again ($loads)"
	# A changed rootfs is new content: loaded again, under a new tag.
	cp "$HELLO" "$WORK/hello.ext4"
	debugfs -w -R "write /etc/hostname /etc/changed" "$WORK/hello.ext4" >/dev/null 2>&1
	"$HEARTH" run "${AC[@]}" --rootfs "$WORK/hello.ext4" --name changed --memory 128 >/dev/null
	"$HEARTH" rm -f changed >/dev/null
	[ "$(grep -c '"image", "load"' "$CONTAINER_DOUBLE_ROOT/calls.log")" = 2 ] ||
		fail "a changed rootfs was not loaded"
	[ "$(container image list | grep -c '^hearth.local/hello:')" = 2 ] || fail "images: $(container image list)"
	no_usage_errors
}

test_apple_system_not_running() {
	need_double
	container system stop
	local rc=0
	"$HEARTH" run "${AC[@]}" --rootfs "$HELLO" --name nosys 2>"$WORK/err" || rc=$?
	container system start >/dev/null
	[ $rc = 2 ] || fail "exit $rc: $(cat "$WORK/err")"
	[ "$(wc -l <"$WORK/err")" = 1 ] || fail "not one line: $(cat "$WORK/err")"
	grep -q 'apple-container is not available: container system not started: run `container system start`' \
		"$WORK/err" || fail "$(cat "$WORK/err")"
	nothing_left nosys
	# auto never picks the tool off macOS, even where it answers.
	"$HEARTH" backends | grep -q '^auto chose apple-container' && fail "auto chose apple-container off macOS"
	"$HEARTH" backends --json | python3 -c '
import json, sys
b = [x for x in json.load(sys.stdin) if x["name"] == "apple-container"][0]
assert b["available"] and b["version"] == "1.2.2", b' || fail "backends: $("$HEARTH" backends --json)"
	no_usage_errors
}

test_apple_bad_input() {
	need_double
	truncate -s 1M "$WORK/disk.img"
	local rc=0
	"$HEARTH" run "${AC[@]}" --rootfs "$HELLO" --name afile -v "$WORK/disk.img:/disk" 2>"$WORK/err" || rc=$?
	[ $rc = 2 ] || fail "exit $rc: $(cat "$WORK/err")"
	grep -q "volumes: apple-container shares directories; .*($WORK/disk.img)" "$WORK/err" || fail "$(cat "$WORK/err")"
	nothing_left afile
	local port
	port=$(free_port)
	python3 -c "import socket,time; s=socket.socket(); s.bind(('127.0.0.1',$port)); s.listen(); time.sleep(30)" &
	local holder=$!
	sleep 0.3
	rc=0
	"$HEARTH" run "${AC[@]}" --rootfs "$HELLO" --name abusy -p "$port:80" 2>"$WORK/err" || rc=$?
	kill $holder
	[ $rc = 1 ] || fail "exit $rc: $(cat "$WORK/err")"
	grep -q "ports: host port 127.0.0.1:$port/tcp cannot be bound" "$WORK/err" || fail "$(cat "$WORK/err")"
	nothing_left abusy
	no_usage_errors
}

test_valgrind_apple_paths() {
	need_double
	command -v valgrind >/dev/null || skip "valgrind missing"
	local vg="valgrind -q --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect --error-exitcode=9 --child-silent-after-fork=yes"
	echo x >"$WORK/vgfile"
	$vg "$HEARTH" run "${AC[@]}" --rootfs "$HELLO" --name vga -p "$(free_port):80" --memory 128 >/dev/null || fail "run"
	$vg "$HEARTH" ps >/dev/null || fail "ps"
	$vg "$HEARTH" logs vga >/dev/null || fail "logs"
	$vg "$HEARTH" exec vga -- true || fail "exec"
	$vg "$HEARTH" cp "$WORK/vgfile" vga:/tmp/vgfile || fail "cp"
	$vg "$HEARTH" ping vga >/dev/null || fail "ping"
	$vg "$HEARTH" stop vga >/dev/null || fail "stop"
	$vg "$HEARTH" rm vga >/dev/null || fail "rm"
	nothing_left vga
	no_usage_errors
}

# The double itself: it takes only what the reference documents.
test_double_rejects_undocumented() {
	need_double
	local rc=0
	container run --hostname x hearth.local/none:1 2>"$WORK/err" || rc=$?
	[ $rc = 64 ] && grep -q "Unknown option '--hostname'" "$WORK/err" || fail "--hostname: exit $rc $(cat "$WORK/err")"
	rc=0
	container logs --tail 5 x 2>/dev/null || rc=$?
	[ $rc = 64 ] || fail "logs --tail: exit $rc"
	rc=0
	container frobnicate 2>/dev/null || rc=$?
	[ $rc = 64 ] || fail "frobnicate: exit $rc"
	[ "$(wc -l <"$CONTAINER_DOUBLE_ROOT/usage-errors.log")" = 3 ] || fail "not logged"
	rm "$CONTAINER_DOUBLE_ROOT/usage-errors.log"
	# Its command and flag table is the reference's, to the flag.
	local ref
	for ref in "$(pwd)/../shared/reference" /work/shared/reference; do
		[ -f "$ref/apple-container-1.2.2-command-reference.md" ] && break
	done
	[ -f "$ref/apple-container-1.2.2-command-reference.md" ] || skip "the CLI reference is not here"
	python3 tests/apple/check_reference.py "$ref/apple-container-1.2.2-command-reference.md" "$DOUBLE_DIR/container"
}

PASSED=0 FAILED=0 SKIPPED=0
t test_apple_full_life
t test_apple_portable_build
t test_apple_exit_code
t test_apple_restart
t test_apple_image_loaded_once
t test_apple_system_not_running
t test_apple_bad_input
[ -n "${HEARTH_SANITIZED:-}" ] || t test_valgrind_apple_paths
t test_double_rejects_undocumented
report
