#!/usr/bin/env bash
# hearth exec (#11) on real guests: QEMU (virtio-serial session ports) and
# Docker (the container's session socket); firecracker.sh runs it through
# the double's vsock. The agent's protocol is also driven raw
# (tests/agent_client.py) with what hearth never sends.
. "$(dirname "$0")/../lib.sh"

new_state
WORK=$(mktemp -d /tmp/hearth-exec.XXXXXX)
trap 'cleanup_state; rm -rf "$WORK"' EXIT
HELLO=$GUEST/hello.ext4
CLIENT=$(cd "$(dirname "$0")/.." && pwd)/agent_client.py

need_qemu() {
	command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 missing"
	[ -s "$HELLO" ] || fail "build the guest kit first (make)"
}

need_docker() {
	command -v docker >/dev/null || skip "docker missing (apt-get install docker.io)"
	docker version >/dev/null 2>&1 || skip "dockerd not running"
	[ -s "$HELLO" ] || fail "build the guest kit first (make)"
}

# The common checks, on guest $1.
exec_basics() {
	local g=$1 rc out
	# Separate streams and the command's own exit status.
	rc=0
	"$HEARTH" exec "$g" sh -c 'echo out; echo err >&2; exit 3' >"$WORK/out" 2>"$WORK/err" || rc=$?
	[ $rc = 3 ] || fail "exit $rc, want 3"
	[ "$(cat "$WORK/out")" = out ] || fail "stdout: $(cat "$WORK/out")"
	[ "$(cat "$WORK/err")" = err ] || fail "stderr: $(cat "$WORK/err")"
	# stdin to its end, with -i only.
	out=$(printf 'a\nb\nc\n' | "$HEARTH" exec -i "$g" wc -l)
	[ "$(echo "$out" | tr -d ' ')" = 3 ] || fail "stdin: $out"
	out=$(echo ignored | "$HEARTH" exec "$g" cat)
	[ -z "$out" ] || fail "stdin went through without -i: $out"
	# Not found, not runnable: 127 and 126, with why.
	rc=0
	"$HEARTH" exec "$g" /no/such 2>"$WORK/err" || rc=$?
	[ $rc = 127 ] && grep -q "exec: /no/such: No such file or directory" "$WORK/err" ||
		fail "not found: exit $rc: $(cat "$WORK/err")"
	"$HEARTH" exec "$g" sh -c 'echo data >/tmp/not-a-program'
	rc=0
	"$HEARTH" exec "$g" /tmp/not-a-program 2>"$WORK/err" || rc=$?
	[ $rc = 126 ] && grep -q "Permission denied" "$WORK/err" || fail "not runnable: exit $rc: $(cat "$WORK/err")"
	# Environment, directory, user.
	out=$("$HEARTH" exec -e GREETING=hi -e PATH=/bin:/usr/bin -w /etc -u 1234:5678 "$g" \
		sh -c 'echo "$GREETING $(pwd) $(id -u):$(id -g)"')
	[ "$out" = "hi /etc 1234:5678" ] || fail "env/workdir/user: $out"
	# Output streams as it comes, not at the end.
	python3 - "$HEARTH" "$g" <<'EOF' || fail "output was not streamed"
import subprocess, sys, time
p = subprocess.Popen([sys.argv[1], "exec", sys.argv[2], "sh", "-c", "echo first; sleep 3; echo second"],
                     stdout=subprocess.PIPE)
t = time.time()
line = p.stdout.readline()
assert line == b"first\n" and time.time() - t < 2.5 and p.poll() is None, (line, time.time() - t)
assert p.stdout.readline() == b"second\n" and p.wait() == 0
EOF
	# Ctrl-C reaches the command: 130, and nothing of it is left.
	"$HEARTH" exec "$g" sleep 300 &
	local pid=$!
	sleep 1
	kill -INT $pid
	rc=0
	wait $pid || rc=$?
	[ $rc = 130 ] || fail "SIGINT: exit $rc"
	out=$("$HEARTH" exec "$g" ps)
	! echo "$out" | grep -q '[s]leep 300' || fail "the command outlived its Ctrl-C: $out"
	# A terminal: its size, and a new size when ours changes.
	out=$(script -qec "stty rows 33 cols 101; $HEARTH exec -t $g stty size" /dev/null | tr -d '\r')
	[ "$out" = "33 101" ] || fail "tty size: $out"
	out=$(script -qec "stty rows 20 cols 70; (sleep 1.5; stty rows 44 cols 120 </dev/tty; pkill -WINCH -f 'exec -t $g') & $HEARTH exec -t $g sh -c 'sleep 3; stty size'" /dev/null | tr -d '\r')
	[ "$out" = "44 120" ] || fail "resize: $out"
	out=$("$HEARTH" exec -t "$g" tty | tr -d '\r')
	case "$out" in /dev/pts/*) ;; *) fail "tty: $out" ;; esac
	# Detached: returns at once, the command goes on.
	local t0=$SECONDS
	"$HEARTH" exec -d "$g" sh -c 'sleep 2; echo done >/tmp/detached'
	[ $((SECONDS - t0)) -le 1 ] || fail "--detach waited"
	wait_for "\"$HEARTH\" exec $g cat /tmp/detached | grep -qx done" 15
	# Several at once.
	local i pids=
	for i in 1 2 3 4 5; do
		"$HEARTH" exec "$g" sh -c "sleep 1; echo c$i" >"$WORK/c$i" &
		pids="$pids $!"
	done
	# shellcheck disable=SC2086
	wait $pids || fail "a concurrent exec failed"
	for i in 1 2 3 4 5; do
		[ "$(cat "$WORK/c$i")" = "c$i" ] || fail "concurrent $i: $(cat "$WORK/c$i")"
	done
}

test_exec_qemu() {
	need_qemu
	"$HEARTH" run --rootfs "$HELLO" --name ex --memory 256 >/dev/null
	exec_basics ex
	"$HEARTH" rm -f ex >/dev/null
}

test_exec_docker() {
	need_docker
	"$HEARTH" run --backend docker --rootfs "$HELLO" --name dex >/dev/null
	exec_basics dex
	"$HEARTH" rm -f dex >/dev/null
}

test_exec_refused() {
	need_qemu
	local rc=0
	"$HEARTH" exec nosuch true 2>"$WORK/err" || rc=$?
	[ $rc = 1 ] && grep -qx "hearth: error: no such guest (nosuch)" "$WORK/err" || fail "exit $rc: $(cat "$WORK/err")"
	"$HEARTH" run --rootfs "$HELLO" --name stopped --memory 128 >/dev/null
	"$HEARTH" stop stopped >/dev/null
	rc=0
	"$HEARTH" exec stopped true 2>"$WORK/err" || rc=$?
	[ $rc = 1 ] && grep -q "stopped: guest is stopped, not running" "$WORK/err" || fail "exit $rc: $(cat "$WORK/err")"
	rc=0
	"$HEARTH" exec stopped 2>"$WORK/err" || rc=$?
	[ $rc = 2 ] || fail "no command: exit $rc"
	"$HEARTH" rm stopped >/dev/null
}

# What hearth never sends, straight to a session port (QEMU) or the
# container's session socket: the agent answers and goes on serving.
test_protocol_violations_qemu() {
	need_qemu
	"$HEARTH" run --rootfs "$HELLO" --name raw --memory 256 >/dev/null
	local sock=$HEARTH_STATE_DIR/vms/raw/session-7.sock
	python3 "$CLIENT" "$sock" sessions_apart || fail "sessions_apart"
	python3 "$CLIENT" "$sock" version_error || fail "version"
	python3 "$CLIENT" "$sock" bad_header_error || fail "bad header"
	[ "$("$HEARTH" exec raw echo still)" = still ] || fail "the agent stopped serving"
	"$HEARTH" rm -f raw >/dev/null
}

test_protocol_violations_docker() {
	need_docker
	"$HEARTH" run --backend docker --rootfs "$HELLO" --name draw >/dev/null
	local pid sock
	pid=$(docker inspect -f '{{.State.Pid}}' hearth-draw)
	sock=/proc/$pid/root/run/hearth/session.sock
	local c
	for c in version bad_header before_hello sessions_apart; do
		python3 "$CLIENT" "$sock" $c || fail "$c"
	done
	[ "$("$HEARTH" exec draw echo still)" = still ] || fail "the agent stopped serving"
	"$HEARTH" rm -f draw >/dev/null
}

test_cp_both_ways() {
	need_qemu
	"$HEARTH" run --rootfs "$HELLO" --name cpg --memory 256 >/dev/null
	local src=$WORK/tree
	mkdir -p "$src/sub/deeper"
	echo hello >"$src/a.txt"
	chmod 640 "$src/a.txt"
	head -c 5000000 /dev/urandom >"$src/sub/big.bin"
	printf '#!/bin/sh\necho run\n' >"$src/sub/deeper/tool"
	chmod 755 "$src/sub/deeper/tool"
	chmod 750 "$src/sub"
	ln -s a.txt "$src/link"
	ln -s /etc/passwd "$src/abs-link"
	chown -R 1234:5678 "$src/sub"
	"$HEARTH" cp "$src" cpg:/tmp/in || fail "cp in"
	[ "$("$HEARTH" exec cpg /tmp/in/sub/deeper/tool)" = run ] || fail "the copied program does not run"
	[ "$("$HEARTH" exec cpg stat -c '%a %u:%g' /tmp/in/sub)" = "750 1234:5678" ] || fail "mode or owner in the guest"
	mkdir "$WORK/back"
	"$HEARTH" cp cpg:/tmp/in "$WORK/back" || fail "cp out"
	diff -r --no-dereference "$src" "$WORK/back/in" || fail "not identical"
	[ "$(stat -c '%a %u:%g' "$WORK/back/in/sub")" = "750 1234:5678" ] || fail "mode or owner back"
	[ "$(readlink "$WORK/back/in/abs-link")" = /etc/passwd ] || fail "a link came back as something else"
	# A file to a new name, and into a directory.
	"$HEARTH" cp cpg:/etc/passwd "$WORK/pw" && grep -q '^root:' "$WORK/pw" || fail "file to a new name"
	"$HEARTH" cp "$WORK/pw" cpg:/tmp/ && [ "$("$HEARTH" exec cpg head -c 5 /tmp/pw)" = "root:" ] ||
		fail "file into a directory"
	local rc=0
	"$HEARTH" cp cpg:/no/such "$WORK/x" 2>"$WORK/err" || rc=$?
	[ $rc = 1 ] && grep -q "cpg: cp: /no/such: No such file or directory" "$WORK/err" || fail "missing: $(cat "$WORK/err")"
	rc=0
	"$HEARTH" cp cpg:relative "$WORK/x" 2>"$WORK/err" || rc=$?
	[ $rc = 2 ] || fail "relative guest path: exit $rc"
	"$HEARTH" rm -f cpg >/dev/null
}

# A guest whose cp answers with streams built to escape: nothing may be
# made outside the destination, no link followed, no setuid kept.
test_cp_hostile_guest() {
	need_qemu
	[ -s "$GUEST/hostile-agent" ] || fail "build the guest kit first (make)"
	"$(dirname "$0")/../../examples/hello/build.sh" "$GUEST/hostile-agent" "$WORK/hostile.ext4" >/dev/null
	"$HEARTH" run --rootfs "$WORK/hostile.ext4" --name evil --memory 128 >/dev/null
	local target=/tmp/hearth-hostile-target attack rc
	rm -rf "$target" /tmp/hearth-hostile-abs
	mkdir -m 777 "$target"
	for attack in dotdot absolute symlink rootlink outside header; do
		rm -rf "$WORK/jail"
		mkdir -p "$WORK/jail/dst"
		rc=0
		"$HEARTH" cp "evil:/attack-$attack" "$WORK/jail/dst" 2>"$WORK/err" || rc=$?
		[ $rc = 1 ] || fail "$attack: exit $rc: $(cat "$WORK/err")"
		grep -qE "refused|record header|ended" "$WORK/err" || fail "$attack: $(cat "$WORK/err")"
		[ "$(ls -A "$WORK/jail")" = dst ] || fail "$attack: made beside the destination: $(ls -A "$WORK/jail")"
		[ -z "$(ls -A "$target")" ] || fail "$attack: wrote through a link: $(ls -A "$target")"
		[ ! -e /tmp/hearth-hostile-abs ] || fail "$attack: wrote an absolute name"
		[ ! -e "$WORK/escape-dotdot" ] && [ ! -e "$WORK/jail/escape-dotdot" ] || fail "$attack: climbed out"
	done
	# A setuid program comes out without its setuid and setgid bits.
	"$HEARTH" cp evil:/attack-setuid "$WORK/suid" || fail "setuid: $(cat "$WORK/err")"
	[ "$(stat -c %a "$WORK/suid")" = 755 ] || fail "setuid kept: $(stat -c %a "$WORK/suid")"
	rm -rf "$target"
	"$HEARTH" rm -f evil >/dev/null
}

# hearth attach: the console both ways, and Ctrl-] on a terminal.
test_attach_qemu() {
	need_qemu
	mkdir -p "$WORK/att/etc/hearth"
	printf '#!/bin/sh\nwhile read -r l </dev/console; do echo "echo: $l"; done\n' >"$WORK/att/etc/hearth/start"
	chmod 755 "$WORK/att/etc/hearth/start"
	"$(dirname "$0")/../../examples/hello/build.sh" "$GUEST/hearth-init" "$WORK/att.ext4" "$WORK/att" >/dev/null
	"$HEARTH" run --rootfs "$WORK/att.ext4" --name at --memory 128 >/dev/null
	# Piped: what is sent reaches the console; its answer comes back.
	local rc=0
	(printf 'hello there\n'; sleep 3) | timeout 6 "$HEARTH" attach at >"$WORK/att.out" || rc=$?
	[ $rc = 124 ] || fail "attach ended by itself: $rc"
	grep -q '^echo: hello there' "$WORK/att.out" || fail "no answer: $(cat -A "$WORK/att.out")"
	# On a terminal: raw keys, and Ctrl-] detaches with the guest running on.
	python3 - "$HEARTH" <<'EOF2' || fail "terminal attach"
import os, pty, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "attach", "at"])
out = b""
def until(word, limit=10):
    global out
    t = time.time()
    while word not in out and time.time() - t < limit:
        try:
            out += os.read(fd, 4096)
        except OSError:
            break
    return word in out
assert until(b"Ctrl-] detaches"), out
os.write(fd, b"typed\r")
assert until(b"echo: typed"), out
os.write(fd, b"\x1d")
_, status = os.waitpid(pid, 0)
assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, (status, out)
EOF2
	[ "$("$HEARTH" status at)" = running ] || fail "the guest did not run on"
	"$HEARTH" rm -f at >/dev/null
}

# Docker's attach is read-only: the output from now on, Ctrl-] detaches,
# and it ends by itself when the guest stops.
test_attach_docker() {
	need_docker
	mkdir -p "$WORK/tick/etc/hearth"
	printf '#!/bin/sh\ni=0\nwhile :; do i=$((i+1)); echo "tick $i"; sleep 0.3; done\n' >"$WORK/tick/etc/hearth/start"
	chmod 755 "$WORK/tick/etc/hearth/start"
	"$(dirname "$0")/../../examples/hello/build.sh" "$GUEST/hearth-init" "$WORK/tick.ext4" "$WORK/tick" >/dev/null
	"$HEARTH" run --backend docker --rootfs "$WORK/tick.ext4" --name dat >/dev/null
	sleep 1.5
	python3 - "$HEARTH" <<'EOF2' || fail "terminal attach"
import os, pty, re, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "attach", "dat"])
out = b""
t = time.time()
while len(re.findall(rb"tick \d+", out)) < 2 and time.time() - t < 10:
    out += os.read(fd, 4096)
ticks = [int(n) for n in re.findall(rb"tick (\d+)", out)]
assert len(ticks) >= 2 and ticks[0] > 3, ("the past was replayed or nothing came", out)
os.write(fd, b"ignored\x1d")
_, status = os.waitpid(pid, 0)
assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, (status, out)
EOF2
	[ "$("$HEARTH" status dat)" = running ] || fail "the guest did not run on"
	# Piped, no detach key: it follows until the guest stops, then exits 0.
	local rc=0
	(sleep 1; "$HEARTH" stop -t 2 dat >/dev/null) &
	timeout 20 "$HEARTH" attach dat </dev/null >"$WORK/dat.out" 2>"$WORK/err" || rc=$?
	wait
	[ $rc = 0 ] || fail "attach did not end with the guest: exit $rc: $(cat "$WORK/err")"
	grep -q '^tick ' "$WORK/dat.out" || fail "no output: $(cat "$WORK/dat.out")"
	rc=0
	"$HEARTH" attach dat </dev/null 2>"$WORK/err" || rc=$?
	[ $rc = 1 ] && grep -q "dat: guest is stopped, not running" "$WORK/err" || fail "stopped: exit $rc: $(cat "$WORK/err")"
	"$HEARTH" rm -f dat >/dev/null
}

t test_exec_qemu
t test_exec_docker
t test_attach_qemu
t test_attach_docker
t test_cp_both_ways
t test_cp_hostile_guest
t test_exec_refused
t test_protocol_violations_qemu
t test_protocol_violations_docker
report
