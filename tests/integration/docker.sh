#!/usr/bin/env bash
# The Docker backend against a real dockerd: the hello image imported from
# ext4, the guest contract in a container, the whole life, errors.
. "$(dirname "$0")/../lib.sh"

new_state
WORK=$(mktemp -d /tmp/hearth-docker.XXXXXX)
trap 'cleanup_state; rm -rf "$WORK"' EXIT
HELLO=$GUEST/hello.ext4

need_docker() {
	command -v docker >/dev/null || skip "docker missing (apt-get install docker.io)"
	docker version >/dev/null 2>&1 || skip "dockerd not running"
	[ -s "$HELLO" ] || fail "build the guest kit first (make)"
}

hearth_images() {
	docker images --format '{{.Repository}}:{{.Tag}} {{.ID}} {{.CreatedAt}}' | grep '^hearth/' | sort
}

test_docker_full_life() {
	need_docker
	mkdir -p "$WORK/conf"
	echo "mode=docker" >"$WORK/conf/app.conf"
	(umask 077 && echo "hunter2" >"$WORK/token")
	local port before
	port=$(free_port)
	before=$(hearth_images)
	"$HEARTH" run --backend docker --rootfs "$HELLO" --name dlife -p "$port:80" --config-dir "$WORK/conf" \
		--secret-file "token=$WORK/token" -v hearth-test-vol:/data --memory 256 --cpus 1 >/dev/null
	wait_for "curl -sf http://127.0.0.1:$port/" 20
	[ "$(curl -s "http://127.0.0.1:$port/")" = "hello from hearth dlife" ] || fail "page"
	local logs
	logs=$("$HEARTH" logs dlife)
	echo "$logs" | grep -Eq 'hello: +-r--r--r-- +1 0 +0 .* app\.conf$' || fail "config not 0444: $logs"
	echo "$logs" | grep -Eq 'hello: +-r-------- +1 0 +0 .* token$' || fail "secret not 0400: $logs"
	echo "$logs" | grep -q 'hello:   mount .* /data ' || fail "volume not mounted: $logs"
	echo "$logs" | grep -q 'hello: hostname dlife' || fail "hostname"
	# On the host: the secrets directory is root's and 0700, files 0400.
	local sdir=$HEARTH_STATE_DIR/vms/dlife/secrets
	[ "$(stat -c '%a %u' "$sdir")" = "700 0" ] || fail "secrets dir $(stat -c '%a %u' "$sdir")"
	[ "$(stat -c %a "$sdir/token")" = 400 ] || fail "secret file mode"
	# Engine facts: labels, limits, the binding on loopback only.
	docker inspect hearth-dlife --format '{{index .Config.Labels "hearth.managed"}} {{.HostConfig.NanoCpus}} {{.HostConfig.Memory}}' |
		grep -qx 'true 1000000000 268435456' || fail "container spec: $(docker inspect hearth-dlife --format '{{json .Config.Labels}}')"
	docker port hearth-dlife 80/tcp | grep -qx "127.0.0.1:$port" || fail "binding: $(docker port hearth-dlife)"
	# Next to a VM guest in ps, each with its backend.
	"$HEARTH" run --rootfs "$HELLO" --name dvm --memory 128 --no-wait >/dev/null
	"$HEARTH" ps | grep -Eq '^dlife +docker +running' || fail "ps: $("$HEARTH" ps)"
	"$HEARTH" ps | grep -Eq '^dvm +qemu ' || fail "ps lacks the VM: $("$HEARTH" ps)"
	"$HEARTH" rm -f dvm >/dev/null
	"$HEARTH" ps --json | python3 -c '
import json, sys
g = [x for x in json.load(sys.stdin) if x["name"] == "dlife"][0]
assert g["backend"] == "docker" and g["status"] == "running" and g["guest_ip"], g'
	# The agent channel: a socket in the container's own tmpfs, reached
	# through its root; no host directory is mounted writable.
	"$HEARTH" ping dlife | grep -q "^pong from dlife" || fail "no pong: $("$HEARTH" ping dlife 2>&1)"
	docker inspect hearth-dlife --format '{{range .Mounts}}{{.Source}}:{{.Destination}}:{{.RW}} {{end}}' |
		tr ' ' '\n' >"$WORK/mounts"
	grep -Eq ':/mnt/config:false$' "$WORK/mounts" && grep -Eq ':/mnt/secrets:false$' "$WORK/mounts" ||
		fail "mounts: $(cat "$WORK/mounts")"
	grep "^$HEARTH_STATE_DIR" "$WORK/mounts" | grep -q ':true$' &&
		fail "a state directory is writable by the guest: $(cat "$WORK/mounts")"
	[ ! -e "$HEARTH_STATE_DIR/vms/dlife/channel" ] || fail "a channel directory on the host"
	# -f keeps following while the guest runs.
	local rc=0
	timeout 2 "$HEARTH" logs -f dlife >"$WORK/follow" || rc=$?
	[ $rc = 124 ] || fail "logs -f ended by itself (exit $rc)"
	grep -q 'hearth-init: ready' "$WORK/follow" || fail "logs -f printed nothing"
	"$HEARTH" logs -n 1 dlife | grep -q 'serving http' || fail "logs -n 1: $("$HEARTH" logs -n 1 dlife)"
	"$HEARTH" pause dlife >/dev/null
	[ "$("$HEARTH" status dlife)" = paused ] || fail "not paused"
	curl -s -m 2 "http://127.0.0.1:$port/" && fail "a paused guest answered"
	"$HEARTH" resume dlife >/dev/null
	wait_for "curl -sf http://127.0.0.1:$port/" 10
	"$HEARTH" stop dlife >/dev/null
	[ "$("$HEARTH" status dlife)" = "stopped by request" ] || fail "status: $("$HEARTH" status dlife)"
	[ "$(status_field dlife exit_code)" = 143 ] || fail "exit code: $(status_field dlife exit_code)"
	local images
	images=$(hearth_images)
	"$HEARTH" rm dlife >/dev/null
	docker ps -aq --filter name=hearth-dlife | grep -q . && fail "container left"
	[ ! -e "$HEARTH_STATE_DIR/vms/dlife" ] || fail "state (secrets) left"
	[ "$(hearth_images)" = "$images" ] || fail "images changed by rm"
	# Of images, at most the cached import of this rootfs remains.
	local added
	added=$(comm -13 <(echo "$before") <(echo "$images") | grep -c . || true)
	[ "$added" -le 1 ] || fail "more than the cached image: $(comm -13 <(echo "$before") <(echo "$images"))"
	docker volume rm hearth-test-vol >/dev/null
}

test_unchanged_rootfs_not_reimported() {
	need_docker
	"$HEARTH" run --backend docker --rootfs "$HELLO" --name once --memory 128 >/dev/null
	local before
	before=$(hearth_images)
	"$HEARTH" rm -f once >/dev/null
	"$HEARTH" run --backend docker --rootfs "$HELLO" --name twice --memory 128 >/dev/null
	[ "$(hearth_images)" = "$before" ] || fail "reimported: $before -> $(hearth_images)"
	"$HEARTH" rm -f twice >/dev/null
}

test_docker_port_taken() {
	need_docker
	local port
	port=$(free_port)
	python3 -c "import socket,time; s=socket.socket(); s.bind(('127.0.0.1',$port)); s.listen(); time.sleep(30)" &
	local holder=$!
	sleep 0.3
	local rc=0
	"$HEARTH" run --backend docker --rootfs "$HELLO" --name dbusy -p "$port:80" 2>"$WORK/err" || rc=$?
	kill $holder
	[ $rc = 1 ] || fail "exit $rc: $(cat "$WORK/err")"
	grep -q "ports: host port 127.0.0.1:$port/tcp cannot be bound" "$WORK/err" || fail "$(cat "$WORK/err")"
	docker ps -aq --filter name=hearth-dbusy | grep -q . && fail "container left"
	[ ! -e "$HEARTH_STATE_DIR/vms/dbusy" ] || fail "state left"
}

test_docker_file_volume_refused() {
	need_docker
	truncate -s 1M "$WORK/disk.img"
	local rc=0
	"$HEARTH" run --backend docker --rootfs "$HELLO" --name dfile -v "$WORK/disk.img:/disk" 2>"$WORK/err" || rc=$?
	[ $rc = 2 ] || fail "exit $rc: $(cat "$WORK/err")"
	grep -q "volumes: docker shares directories; .*($WORK/disk.img)" "$WORK/err" || fail "$(cat "$WORK/err")"
	docker ps -aq --filter name=hearth-dfile | grep -q . && fail "container left"
	[ ! -e "$HEARTH_STATE_DIR/vms/dfile" ] || fail "state left"
}

test_engine_unreachable() {
	need_docker
	local rc=0
	DOCKER_HOST=unix://$WORK/nope.sock "$HEARTH" run --backend docker --rootfs "$HELLO" --name nodaemon 2>"$WORK/err" || rc=$?
	[ $rc = 2 ] || fail "exit $rc"
	grep -q "backend: docker is not available: no Docker Engine at $WORK/nope.sock" "$WORK/err" || fail "$(cat "$WORK/err")"
	rc=0
	DOCKER_HOST=tcp://127.0.0.1:2375 "$HEARTH" run --backend docker --rootfs "$HELLO" 2>"$WORK/err" || rc=$?
	[ $rc = 2 ] || fail "tcp DOCKER_HOST: exit $rc"
	grep -q 'only unix:// sockets are supported' "$WORK/err" || fail "$(cat "$WORK/err")"
	[ -z "$(ls "$HEARTH_STATE_DIR/vms")" ] || fail "state left"
}

# A socket that answers every call with 20 MB (hostile, or not an
# Engine): refused past 16 MiB, one line, nothing kept in memory or left.
test_engine_answer_bounded() {
	local sock=$WORK/huge.sock
	python3 - "$sock" <<'PY' &
import socket, sys
srv = socket.socket(socket.AF_UNIX)
srv.bind(sys.argv[1])
srv.listen(8)
while True:
    c, _ = srv.accept()
    c.recv(65536)
    body = b"x" * (20 << 20)
    try:
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    except OSError:
        pass
    c.close()
PY
	local pid=$!
	wait_for "[ -S '$sock' ]" 10
	local out
	out=$(DOCKER_HOST=unix://$sock "$HEARTH" backends 2>&1)
	kill $pid
	echo "$out" | grep -A1 '^docker' | grep -q "$sock answered with more than 16 MiB" || fail "backends: $out"
}

# An ext4 rootfs with a symlink, a device node, a name with spaces and a
# 0400 file reaches the container intact through the libext2fs->tar import.
test_import_keeps_special_files() {
	need_docker
	mkdir -p "$WORK/ov/srv" "$WORK/ov/devs"
	echo "spaced" >"$WORK/ov/srv/with space.txt"
	echo "private" >"$WORK/ov/srv/private"
	chmod 0400 "$WORK/ov/srv/private"
	ln -s "with space.txt" "$WORK/ov/srv/link"
	ln -s "/a/target/path/that/is/longer/than/sixty/characters/so/it/is/not/a/fast/symlink" "$WORK/ov/srv/longlink"
	mknod "$WORK/ov/devs/null" c 1 3
	"$(dirname "$0")/../../examples/hello/build.sh" "$GUEST/hearth-init" "$WORK/special.ext4" "$WORK/ov"
	"$HEARTH" run --backend docker --rootfs "$WORK/special.ext4" --name special --memory 128 >/dev/null
	local got
	got=$(docker exec hearth-special sh -c 'cd /srv && stat -c "%n|%a|%F" "with space.txt" private link; readlink link; readlink longlink; stat -c "%F|%t,%T" /devs/null; cat "with space.txt"')
	local want="with space.txt|644|regular file
private|400|regular file
link|777|symbolic link
with space.txt
/a/target/path/that/is/longer/than/sixty/characters/so/it/is/not/a/fast/symlink
character special file|1,3
spaced"
	[ "$got" = "$want" ] || fail "got:
$got"
	"$HEARTH" rm -f special >/dev/null
	docker rmi "$(docker images -q hearth/special)" >/dev/null
}

# 14. An Engine socket that accepts and never answers: ps ends within
# the call's deadline with the guest failed and the reason, and an
# unrelated QEMU start (ports, so it reads the other guests under the
# state lock) is not held up at all.
test_engine_silent() {
	need_docker
	"$HEARTH" run --backend docker --rootfs "$HELLO" --name dsilent --memory 128 >/dev/null
	local sock=$WORK/silent.sock
	python3 - "$sock" <<'PY' &
import socket, sys, time
srv = socket.socket(socket.AF_UNIX)
srv.bind(sys.argv[1])
srv.listen(64)
held = []
while True:
    c, _ = srv.accept()
    held.append(c)
PY
	local pid=$!
	wait_for "[ -S '$sock' ]" 10
	local t0=$SECONDS out
	out=$(DOCKER_HOST=unix://$sock timeout 30 "$HEARTH" ps -a 2>&1) || fail "ps: exit $?: $out"
	[ $((SECONDS - t0)) -le 8 ] || fail "ps took $((SECONDS - t0)) s"
	echo "$out" | grep -Eq '^dsilent +docker +failed' || fail "ps: $out"
	DOCKER_HOST=unix://$sock "$HEARTH" status dsilent | grep -q "did not answer" ||
		fail "status: $(DOCKER_HOST=unix://$sock "$HEARTH" status dsilent)"
	t0=$SECONDS
	DOCKER_HOST=unix://$sock timeout 30 "$HEARTH" run --backend qemu --rootfs "$HELLO" --name qbeside \
		-p "$(free_port):80" --no-wait >/dev/null || fail "qemu run beside a silent Engine"
	[ $((SECONDS - t0)) -le 4 ] || fail "the qemu start waited $((SECONDS - t0)) s"
	kill $pid
	"$HEARTH" rm -f qbeside dsilent >/dev/null
}

# 12. kill -9 of the CLI between the container's create and its start
# (held there by a proxy on the Engine's socket): the next command sees a
# failed guest, not one starting forever, and rm -f removes the container.
test_cli_killed_between_create_and_start() {
	need_docker
	local sock=$WORK/hold.sock
	python3 "$(dirname "$0")/../engine_proxy.py" "$sock" hold-start &
	local proxy=$!
	wait_for "[ -S '$sock' ]" 10
	DOCKER_HOST=unix://$sock "$HEARTH" run --backend docker --rootfs "$HELLO" --name dheld --memory 128 \
		>/dev/null 2>&1 &
	local cli=$!
	wait_for "[ \"\$(docker inspect -f '{{.State.Status}}' hearth-dheld 2>/dev/null)\" = created ]" 60
	kill -9 $cli
	wait $cli 2>/dev/null || true
	kill $proxy
	local st
	st=$("$HEARTH" status dheld)
	[ "$st" = "failed: start interrupted: the command starting it ended before handing it over" ] ||
		fail "status: $st"
	"$HEARTH" rm -f dheld >/dev/null || fail "rm -f"
	! docker inspect hearth-dheld >/dev/null 2>&1 || fail "container left"
}

# A guest that swaps its agent socket for a link to a host socket does
# not get hearth to connect there: the name resolves inside its root.
test_agent_link_stays_inside() {
	"$HEARTH" run --backend docker --rootfs "$HELLO" --name dlink --memory 128 >/dev/null
	local host_sock=/tmp/hearth-host-sock.$$
	socat "UNIX-LISTEN:$host_sock,fork" SYSTEM:'echo pong' &
	local socat_pid=$!
	wait_for "[ -S $host_sock ]" 5
	docker exec hearth-dlink sh -c "rm /run/hearth/agent.sock && ln -s $host_sock /run/hearth/agent.sock"
	local rc=0 out
	out=$("$HEARTH" ping dlink 2>&1) || rc=$?
	kill $socat_pid
	rm -f "$host_sock"
	[ $rc = 1 ] || fail "ping through a link: exit $rc: $out"
	echo "$out" | grep -q "Socket operation on non-socket" || fail "error: $out"
	"$HEARTH" rm -f dlink >/dev/null
}

test_valgrind_docker_paths() {
	need_docker
	command -v valgrind >/dev/null || skip "valgrind missing"
	local vg="valgrind -q --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect --error-exitcode=9 --child-silent-after-fork=yes"
	$vg "$HEARTH" run --backend docker --rootfs "$HELLO" --name vgd -p "$(free_port):80" --memory 128 >/dev/null || fail "run"
	$vg "$HEARTH" ps >/dev/null || fail "ps"
	$vg "$HEARTH" logs vgd >/dev/null || fail "logs"
	$vg "$HEARTH" pause vgd >/dev/null || fail "pause"
	$vg "$HEARTH" resume vgd >/dev/null || fail "resume"
	$vg "$HEARTH" stop vgd >/dev/null || fail "stop"
	$vg "$HEARTH" rm vgd >/dev/null || fail "rm"
}

t test_docker_full_life
t test_unchanged_rootfs_not_reimported
t test_docker_port_taken
t test_docker_file_volume_refused
t test_engine_unreachable
t test_engine_answer_bounded
t test_import_keeps_special_files
t test_agent_link_stays_inside
t test_engine_silent
t test_cli_killed_between_create_and_start
# valgrind cannot run ASan binaries; the plain build's run covers it.
[ -n "${HEARTH_SANITIZED:-}" ] || t test_valgrind_docker_paths
report
