#!/usr/bin/env bash
# The hearth CLI driving real QEMU guests (TCG here): the whole life of a
# guest, failure handling, bad input, concurrency.
. "$(dirname "$0")/../lib.sh"

new_state
WORK=$(mktemp -d /tmp/hearth-cli.XXXXXX)
trap 'cleanup_state; rm -rf "$WORK"' EXIT
HELLO=$GUEST/hello.ext4

need_qemu() {
	command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 missing"
	[ -s "$HELLO" ] || fail "build the guest kit first (make)"
}

console() {
	"$HEARTH" logs "$1" | tr -d '\r'
}

test_full_life() {
	need_qemu
	mkdir -p "$WORK/conf"
	echo "mode=test" >"$WORK/conf/app.conf"
	(umask 077 && echo "hunter2" >"$WORK/token")
	local port
	port=$(free_port)
	local name
	name=$("$HEARTH" run --rootfs "$HELLO" --name life -p "$port:80" --config-dir "$WORK/conf" \
		--secret-file "token=$WORK/token" -v data:/data:32M --memory 256 --cpus 1)
	[ "$name" = life ] || fail "run printed '$name'"
	wait_for "curl -sf http://127.0.0.1:$port/" 30
	[ "$(curl -s "http://127.0.0.1:$port/")" = "hello from hearth life" ] || fail "wrong page"
	console life | grep -Eq 'hello: +-r--r--r-- +1 0 +0 .* app\.conf$' || fail "config not 0444 in guest"
	console life | grep -Eq 'hello: +-r-------- +1 0 +0 .* token$' || fail "secret not 0400 in guest"
	console life | grep -q 'mount /dev/vdd /data ext4 rw' || fail "volume not mounted"
	# The guest's clock comes from the RTC: it knows today's date.
	console life | grep -q "hello: date $(date -u +%Y-%m-%d)" || fail "guest clock wrong: $(console life | grep 'hello: date')"
	# The secret never lands in a file others can read, nor in a log.
	grep -rqs hunter2 "$HEARTH_STATE_DIR"/vms/life/*.log && fail "secret in a log"
	[ "$(stat -c %a "$HEARTH_STATE_DIR/vms/life/secrets.img")" = 600 ] || fail "secrets.img not 0600"
	[ "$(stat -c %a "$HEARTH_STATE_DIR/vms/life")" = 700 ] || fail "state dir not 0700"
	pgrep -f "qemu-system.*hunter2" && fail "secret in argv"
	"$HEARTH" ps | grep -Eq "^life +qemu +running +1 +256M +10\.0\.2\.15 +- +127\.0\.0\.1:$port->80/tcp" ||
		fail "ps row wrong: $("$HEARTH" ps)"
	"$HEARTH" ps --json | python3 -c '
import json, sys
row = json.load(sys.stdin)[0]
want = {"name", "backend", "status", "reason", "cpus", "memory_mib", "guest_ip", "ports", "profile",
        "revision", "flake_ref", "started_at"}
assert want <= set(row), set(row) ^ want
assert row["status"] == "running" and row["memory_mib"] == 256 and row["ports"][0]["guest"] == 80, row'
	"$HEARTH" status life | grep -q '^running' || fail "status not running"
	local rc=0
	timeout 2 "$HEARTH" logs -f life >"$WORK/follow" || rc=$?
	[ $rc = 124 ] || fail "logs -f ended by itself (exit $rc)"
	grep -q 'hearth-init: ready' "$WORK/follow" || fail "logs -f printed nothing"
	# The agent channel: the virtio-serial port hearth-init answers on.
	[ "$( (echo ping; sleep 1) | socat -t 1 - "UNIX-CONNECT:$(status_field life guest_channel)")" = pong ] || fail "no pong"
	"$HEARTH" inspect life | grep -q '"rootfs_path"' || fail "inspect"
	"$HEARTH" pause life >/dev/null
	[ "$("$HEARTH" status life)" = paused ] || fail "not paused"
	curl -s -m 2 "http://127.0.0.1:$port/" && fail "a paused guest answered"
	"$HEARTH" resume life >/dev/null
	[ "$("$HEARTH" status life)" = running ] || fail "not resumed"
	wait_for "curl -sf http://127.0.0.1:$port/" 10
	local mon qemu
	mon=$(status_field life monitor_pid)
	qemu=$(status_field life vmm_pid)
	"$HEARTH" stop life >/dev/null
	[ "$("$HEARTH" status life)" = "stopped by request" ] || fail "status after stop: $("$HEARTH" status life)"
	[ "$(status_field life exit_code)" = 143 ] || fail "exit code: $(status_field life exit_code)"
	alive "$mon" && fail "monitor still running"
	alive "$qemu" && fail "qemu still running"
	ls "$HEARTH_STATE_DIR/vms/life/" | grep -Eq 'sock|secrets.img|config.img|\.stage' && fail "leftovers: $(ls "$HEARTH_STATE_DIR/vms/life/")"
	"$HEARTH" ps | grep -q life && fail "stopped guest shown without -a"
	"$HEARTH" ps -a | grep -q '^life .*stopped' || fail "ps -a lacks the stopped guest"
	"$HEARTH" logs -n 2 life | tr -d '\r' | grep -q 'reboot: Restarting system' || fail "logs -n"
	"$HEARTH" rm life >/dev/null
	[ ! -e "$HEARTH_STATE_DIR/vms/life" ] || fail "rm left the state dir"
}

test_kill_9_turns_failed() {
	need_qemu
	"$HEARTH" run --rootfs "$HELLO" --name victim --memory 128 >/dev/null
	local qemu
	qemu=$(status_field victim vmm_pid)
	kill -9 "$qemu"
	sleep 1
	"$HEARTH" status victim | grep -q '^failed: qemu killed by signal 9' || fail "status: $("$HEARTH" status victim)"
	[ ! -e "$HEARTH_STATE_DIR/vms/victim/qmp.sock" ] || fail "socket left"
	"$HEARTH" rm victim >/dev/null
}

test_monitor_killed_never_running() {
	need_qemu
	"$HEARTH" run --rootfs "$HELLO" --name orphan --memory 128 >/dev/null
	local mon
	mon=$(status_field orphan monitor_pid)
	kill -9 "$mon"
	sleep 0.5
	"$HEARTH" status orphan | grep -q '^failed: monitor process exited unexpectedly' || fail "status: $("$HEARTH" status orphan)"
	# qemu dies with its monitor (PDEATHSIG): no unsupervised guest.
	wait_for "! pgrep -f 'qemu-system.*vms/orphan/'" 5
	"$HEARTH" rm orphan >/dev/null
}

test_inspect_round_trip() {
	need_qemu
	(umask 077 && echo "k" >"$WORK/key")
	"$HEARTH" run --rootfs "$HELLO" --name orig --memory 192 -p "$(free_port):80" -p "$(free_port):53/udp" \
		--secret-file "key=$WORK/key" -v "$WORK/vol.img:/vol:ro" --no-wait >/dev/null 2>"$WORK/err" && fail "missing volume image accepted"
	grep -q "volumes: No such file or directory ($WORK/vol.img)" "$WORK/err" || fail "error: $(cat "$WORK/err")"
	mke2fs -q -t ext4 "$WORK/vol.img" 8M >/dev/null
	"$HEARTH" run --rootfs "$HELLO" --name orig --memory 192 -p "$(free_port):80" -p "$(free_port):53/udp" \
		--secret-file "key=$WORK/key" -v "$WORK/vol.img:/vol:ro" --no-wait >/dev/null
	"$HEARTH" inspect orig >"$WORK/a.json"
	"$HEARTH" stop --timeout 0 orig >/dev/null
	"$HEARTH" rm orig >/dev/null
	"$HEARTH" run -f "$WORK/a.json" --no-wait >/dev/null
	"$HEARTH" inspect orig >"$WORK/b.json"
	cmp "$WORK/a.json" "$WORK/b.json" || fail "inspect -> run -f -> inspect changed: $(diff "$WORK/a.json" "$WORK/b.json")"
	"$HEARTH" stop --timeout 0 orig >/dev/null
	"$HEARTH" rm orig >/dev/null
}

# Each bad input: one line naming the field and value, exit 2, and no
# state directory, process or temp file left behind.
test_bad_input_leaves_nothing() {
	need_qemu
	local before after
	before=$(ls /tmp | sort)
	check() {
		local want=$1
		shift
		local rc=0
		"$HEARTH" run "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
		[ $rc = 2 ] || fail "exit $rc, want 2 for: $* ($(cat "$WORK/err"))"
		[ "$(wc -l <"$WORK/err")" = 1 ] || fail "not one line: $(cat "$WORK/err")"
		grep -qF "hearth: error: $want" "$WORK/err" || fail "want '$want', got: $(cat "$WORK/err")"
		[ -z "$(ls "$HEARTH_STATE_DIR/vms" 2>/dev/null)" ] || fail "state left for: $*"
	}
	check "name: must match [a-z0-9][a-z0-9-]{0,62} (Bad)" --rootfs "$HELLO" --name Bad
	check "rootfs_path: No such file or directory ($WORK/nope.ext4)" --rootfs "$WORK/nope.ext4"
	check "rootfs_path: not a regular file ($WORK)" --rootfs "$WORK"
	check "cpus: must be 1..32 (64)" --rootfs "$HELLO" --cpus 64
	check "memory: must be 128..65536 MiB (64M)" --rootfs "$HELLO" --memory 64M
	check "ports: host port must be 1..65535 (99999:80)" --rootfs "$HELLO" -p 99999:80
	check "ports: host port published twice (8080/tcp)" --rootfs "$HELLO" -p 8080:80 -p 8080:81
	check "volumes: guest path must be absolute, not /, without . or .. (/a/../b)" --rootfs "$HELLO" -v d:/a/../b
	check "config_files: expected NAME=PATH (justname)" --rootfs "$HELLO" --config-file justname
	check "secret_files: t: No such file or directory ($WORK/none)" --rootfs "$HELLO" --secret-file "t=$WORK/none"
	check "kernel_path: No such file or directory (/nope/vmlinux)" --rootfs "$HELLO" --kernel /nope/vmlinux
	check "backend: unknown backend (vmware)" --rootfs "$HELLO" --backend vmware
	check "config: unknown key at line 2 (colour)" -f <(printf '{\n "colour": 1\n}\n')
	check "rootfs_path: required" --name x
	check "run: unknown option or missing value: --bogus (see 'hearth run --help')" --bogus
	check "run: unknown option or missing value: --cpus (see 'hearth run --help')" --rootfs "$HELLO" --cpus
	# What the user gave is escaped: a newline never makes a second line.
	check 'name: must match [a-z0-9][a-z0-9-]{0,62} (a\nb)' --rootfs "$HELLO" --name "$(printf 'a\nb')"
	echo "x=1" >"$WORK/nl.conf"
	check 'config_files: name must hold no control characters (a\nb)' --rootfs "$HELLO" \
		--config-file "$(printf 'a\nb')=$WORK/nl.conf"
	# A FIFO nobody writes to: an answer, not a hang.
	mkfifo "$WORK/fifo"
	check "config: nothing to read in $WORK/fifo" -f "$WORK/fifo"
	rm -f "$WORK/fifo"
	after=$(ls /tmp | sort)
	[ "$before" = "$after" ] || fail "temp files left: $(comm -13 <(echo "$before") <(echo "$after"))"
	pgrep -f "hearth.*__monitor|qemu-system.*$HEARTH_STATE_DIR" && fail "process left"
	return 0
}

test_port_in_use() {
	need_qemu
	local port
	port=$(free_port)
	python3 -c "import socket,time; s=socket.socket(); s.bind(('127.0.0.1',$port)); s.listen(); time.sleep(30)" &
	local holder=$!
	sleep 0.3
	local rc=0
	"$HEARTH" run --rootfs "$HELLO" --name busy -p "$port:80" 2>"$WORK/err" || rc=$?
	kill $holder
	[ $rc = 1 ] || fail "exit $rc"
	grep -q "ports: host port 127.0.0.1:$port/tcp cannot be bound: Address already in use" "$WORK/err" || fail "$(cat "$WORK/err")"
	[ ! -e "$HEARTH_STATE_DIR/vms/busy" ] || fail "state left"
	# A port another hearth guest publishes is refused too, by name.
	"$HEARTH" run --rootfs "$HELLO" --name holder -p "$port:80" --memory 128 --no-wait >/dev/null
	rc=0
	"$HEARTH" run --rootfs "$HELLO" --name second -p "$port:8080" 2>"$WORK/err" || rc=$?
	[ $rc = 1 ] || fail "exit $rc"
	grep -q "ports: host port $port/tcp is published by guest holder" "$WORK/err" || fail "$(cat "$WORK/err")"
	"$HEARTH" rm -f holder >/dev/null
}

test_concurrent_runs() {
	need_qemu
	local i pids=() ok=0
	for i in $(seq 1 20); do
		"$HEARTH" run --rootfs "$HELLO" --name "par-$i" --memory 128 --cpus 1 --no-wait >/dev/null 2>&1 &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i" && ok=$((ok + 1)); done
	[ $ok = 20 ] || fail "$ok of 20 distinct runs succeeded"
	# Two at once with one name: exactly one wins.
	"$HEARTH" run --rootfs "$HELLO" --name same --memory 128 --no-wait >/dev/null 2>&1 &
	local a=$!
	"$HEARTH" run --rootfs "$HELLO" --name same --memory 128 --no-wait >/dev/null 2>&1 &
	local b=$!
	ok=0
	wait $a && ok=$((ok + 1))
	wait $b && ok=$((ok + 1))
	[ $ok = 1 ] || fail "$ok of 2 same-name runs succeeded"
	"$HEARTH" stop --all --timeout 0 >/dev/null
	[ "$("$HEARTH" ps | wc -l)" = 1 ] || fail "guests left running"
	pgrep -f "qemu-system.*$HEARTH_STATE_DIR" && fail "qemu left"
	for i in $(seq 1 20); do "$HEARTH" rm "par-$i" >/dev/null; done
	"$HEARTH" rm same >/dev/null
}

test_auto_names_and_backends() {
	need_qemu
	local name
	name=$("$HEARTH" run --rootfs "$HELLO" --memory 128 --no-wait)
	echo "$name" | grep -Eq '^[a-z]+-[a-z]+$' || fail "auto name '$name'"
	"$HEARTH" rm -f "$name" >/dev/null
	# The KVM verdict is probed once per machine boot and kept in the
	# runtime directory (test_kvm_verdict_cache); without /dev/kvm there is
	# nothing to probe (test_no_kvm_host).
	if [ -c /dev/kvm ] && [ -z "$HEARTH_ACCEL" ]; then
		wait_for "grep -lqsE \"^(kvm|tcg) \" ${HEARTH_RUNTIME_DIR:-/run/hearth}/accel-*" 10
	fi
	"$HEARTH" backends | grep -q '^qemu .*available' || fail "backends: $("$HEARTH" backends)"
	"$HEARTH" backends --json | python3 -c '
import json, sys
b = {x["name"]: x for x in json.load(sys.stdin)}
q = b["qemu"]
assert q["available"] and q["default"] and "pause_resume" in q["capabilities"], q
assert "accel kvm" in q["reason"] or "accel tcg" in q["reason"], q'
}

# On a terminal `hearth logs` shows what the guest wrote with control
# characters escaped (no screen clearing, no OSC 52 clipboard writes);
# --raw and a pipe get the bytes.
test_logs_escaped_on_a_tty() {
	need_qemu
	command -v script >/dev/null || skip "script (bsdutils) missing"
	mkdir -p "$WORK/esc/etc/hearth"
	printf '#!/bin/sh\nprintf "plain\\033[2Jcleared\\n"\nprintf "\\033]52;c;aGk=\\007osc\\n"\nexec sleep 60\n' \
		>"$WORK/esc/etc/hearth/start"
	chmod 755 "$WORK/esc/etc/hearth/start"
	"$(dirname "$0")/../../examples/hello/build.sh" "$GUEST/hearth-init" "$WORK/esc.ext4" "$WORK/esc" >/dev/null
	"$HEARTH" run --rootfs "$WORK/esc.ext4" --name esc --memory 128 >/dev/null
	wait_for "\"$HEARTH\" logs esc | grep -q osc" 20
	local tty raw
	tty=$(script -qc "$HEARTH logs esc" /dev/null)
	echo "$tty" | grep -qF 'plain\x1b[2Jcleared' || fail "not escaped: $(echo "$tty" | grep -a plain | od -c | head -n 3)"
	echo "$tty" | grep -qF '\x1b]52;c;aGk=\x07osc' || fail "OSC 52 not escaped"
	! echo "$tty" | grep -q "$(printf '\033')" || fail "an escape byte reached the terminal"
	raw=$(script -qc "$HEARTH logs --raw esc" /dev/null)
	echo "$raw" | grep -q "$(printf 'plain\033\\[2J')" || fail "--raw escaped"
	"$HEARTH" logs esc | grep -q "$(printf 'plain\033\\[2J')" || fail "a pipe got escaped bytes"
	"$HEARTH" rm -f esc >/dev/null
}

# A QMP socket that never ends its line (not QEMU, or a hostile one in
# its place): bounded, one line, the guest still removable.
test_qmp_answer_bounded() {
	need_qemu
	"$HEARTH" run --rootfs "$HELLO" --name qh --memory 128 >/dev/null
	local sock=$HEARTH_STATE_DIR/vms/qh/qmp.sock
	rm -f "$sock"
	python3 - "$sock" <<'PY' &
import socket, sys
srv = socket.socket(socket.AF_UNIX)
srv.bind(sys.argv[1])
srv.listen(4)
while True:
    c, _ = srv.accept()
    try:
        c.sendall(b"{" + b"x" * (2 << 20))
    except OSError:
        pass
    c.close()
PY
	local pid=$! rc=0 out
	wait_for "[ -S '$sock' ]" 10
	out=$("$HEARTH" pause qh 2>&1) || rc=$?
	kill $pid
	[ $rc = 1 ] && [ "$out" = "hearth: error: qemu: qmp: a message longer than 1024 KiB" ] || fail "exit $rc: $out"
	"$HEARTH" rm -f qh >/dev/null || fail "rm"
}

# Each way a guest can end, said once in plain words by `hearth status`.
test_status_texts() {
	need_qemu
	mkdir -p "$WORK/st/etc/hearth"
	printf '#!/bin/sh\necho working\nexit 3\n' >"$WORK/st/etc/hearth/start"
	chmod 755 "$WORK/st/etc/hearth/start"
	"$(dirname "$0")/../../examples/hello/build.sh" "$GUEST/hearth-init" "$WORK/exit3.ext4" "$WORK/st" >/dev/null
	# Exited on its own, with its code.
	"$HEARTH" run --rootfs "$WORK/exit3.ext4" --name st-exit --memory 128 --no-wait >/dev/null
	wait_for '[ "$(status_field st-exit status)" = stopped ]' 30
	[ "$("$HEARTH" status st-exit)" = "exited on its own with code 3" ] || fail "own exit: $("$HEARTH" status st-exit)"
	# Stopped by request: the agent's power-off.
	"$HEARTH" run --rootfs "$HELLO" --name st-stop --memory 128 >/dev/null
	"$HEARTH" stop st-stop >/dev/null
	[ "$("$HEARTH" status st-stop)" = "stopped by request" ] || fail "stop: $("$HEARTH" status st-stop)"
	# Killed after the timeout: a guest that ignores the request (paused
	# guests are resumed first, so hold its VMM with SIGSTOP instead).
	"$HEARTH" run --rootfs "$HELLO" --name st-kill --memory 128 >/dev/null
	kill -STOP "$(status_field st-kill vmm_pid)"
	"$HEARTH" stop --timeout 1 st-kill >/dev/null
	[ "$("$HEARTH" status st-kill)" = "killed after the stop timeout" ] || fail "kill: $("$HEARTH" status st-kill)"
	# Failed, with the reason.
	"$HEARTH" run --rootfs "$HELLO" --name st-fail --memory 128 >/dev/null
	kill -9 "$(status_field st-fail vmm_pid)"
	wait_for '[ "$(status_field st-fail status)" = failed ]' 10
	[ "$("$HEARTH" status st-fail)" = "failed: qemu killed by signal 9" ] || fail "failed: $("$HEARTH" status st-fail)"
	"$HEARTH" rm st-exit st-stop st-kill st-fail >/dev/null
}

# The KVM verdict: probed once per machine boot, QEMU and kernel, shared
# by every state root, never waited for by a start, and not believed
# from a file someone else could have written.
test_kvm_verdict_cache() {
	need_qemu
	[ -c /dev/kvm ] || skip "no /dev/kvm: nothing to probe (test_no_kvm_host covers it)"
	local rt=$WORK/runtime a=$WORK/root-a b=$WORK/root-b c=$WORK/root-c
	mkdir -p "$a" "$b" "$c"
	# A start with no verdict yet probes aside: it takes the verdict if it
	# comes within half a second, else boots under TCG at once.
	HEARTH_RUNTIME_DIR=$rt HEARTH_STATE_DIR=$a HEARTH_ACCEL= "$HEARTH" run --rootfs "$HELLO" --name v1 --memory 128 \
		--no-wait >/dev/null
	wait_for 'ls "$rt"/accel-* | grep -qv lock' 10
	local file verdict inode first
	file=$(ls "$rt"/accel-* | grep -v lock)
	verdict=$(sed -n 2p "$file")
	[[ $verdict == kvm* || $verdict == tcg* ]] || fail "verdict: $verdict"
	first=$(HEARTH_STATE_DIR=$a status_field v1 accel)
	[ "$first" = tcg ] || [ "$first" = "${verdict%% *}" ] || fail "first start under $first, verdict $verdict"
	[ "$(stat -c '%U %a' "$file")" = "root 644" ] || fail "cache file: $(stat -c '%U %a' "$file")"
	inode=$(stat -c %i "$file")
	HEARTH_STATE_DIR=$a "$HEARTH" rm -f v1 >/dev/null
	# Another state root on the same machine reuses it: no probe, no write.
	HEARTH_RUNTIME_DIR=$rt HEARTH_STATE_DIR=$b HEARTH_ACCEL= "$HEARTH" run --rootfs "$HELLO" --name v2 --memory 128 \
		--no-wait >/dev/null
	[ "$(HEARTH_STATE_DIR=$b status_field v2 accel)" = "${verdict%% *}" ] || fail "second root did not use the verdict"
	[ "$(stat -c %i "$file")" = "$inode" ] || fail "the verdict was probed again"
	HEARTH_STATE_DIR=$b "$HEARTH" rm -f v2 >/dev/null
	backends() { HEARTH_RUNTIME_DIR=$rt HEARTH_STATE_DIR=$c HEARTH_ACCEL= "$HEARTH" backends | grep -A1 '^qemu'; }
	backends | grep -qF "accel $verdict" || fail "backends: $(backends)"
	# Forged: another user's file, a file others may write, another key.
	local key
	key=$(sed -n 1p "$file")
	printf '%s\nkvm (forged)\n' "$key" >"$file"
	chown 65534 "$file"
	! backends | grep -q forged || fail "believed another user's verdict"
	printf '%s\nkvm (forged)\n' "$key" >"$file"
	chown 0 "$file" && chmod 666 "$file"
	! backends | grep -q forged || fail "believed a world-writable verdict"
	printf 'another boot %s\nkvm (forged)\n' "$key" >"$file"
	chmod 644 "$file"
	! backends | grep -q forged || fail "believed another key's verdict"
	backends | grep -qF "accel $verdict" || fail "the probe did not put the truth back: $(backends)"
	# A changed kernel is another key: its own verdict.
	mkdir -p "$WORK/data2"
	cp "$GUEST/vmlinux" "$WORK/data2/vmlinux"
	HEARTH_DATA_DIR=$WORK/data2 HEARTH_RUNTIME_DIR=$rt HEARTH_STATE_DIR=$c HEARTH_ACCEL= "$HEARTH" backends >/dev/null
	[ "$(ls "$rt"/accel-* | grep -vc lock)" = 2 ] || fail "a changed kernel reused the old verdict: $(ls "$rt")"
	# A user reads root's verdict (in /run/hearth) for the same QEMU and
	# kernel, and writes none of its own. The binary and kernel are copied
	# where the user can reach them (a checkout under /root is not); the
	# user gets a /dev/kvm it may open in a mount namespace of its own.
	local pub=$WORK/pub
	mkdir -p "$pub/guest" "$pub/rt"
	cp "$HEARTH" "$pub/hearth"
	cp "$GUEST/vmlinux" "$pub/guest/vmlinux"
	chown 65534 "$pub/rt"
	chmod 700 "$pub/rt"
	chmod 755 "$WORK" "$pub" "$pub/guest"
	HEARTH_DATA_DIR=$pub/guest HEARTH_RUNTIME_DIR= HEARTH_STATE_DIR=$c HEARTH_ACCEL= "$pub/hearth" backends >/dev/null
	local root_file
	root_file=$(grep -l "$pub/guest/vmlinux" /run/hearth/accel-* | grep -v lock)
	[ -n "$root_file" ] || fail "root's verdict not in /run/hearth"
	out=$(unshare -m sh -c 'mknod -m 666 "$0/kvm" c 10 232 && mount --bind "$0/kvm" /dev/kvm &&
		su nobody -s /bin/sh -c "cd /; HEARTH_ACCEL= HEARTH_RUNTIME_DIR= XDG_RUNTIME_DIR=$0/rt HEARTH_STATE_DIR=$0/rt/state \
			HEARTH_DATA_DIR=$0/guest $0/hearth backends"' "$pub" 2>&1) || fail "as nobody: $out"
	echo "$out" | grep -A1 '^qemu' | grep -qF "accel $(sed -n 2p "$root_file")" || fail "root's verdict not read: $out"
	[ -z "$(ls "$pub/rt/hearth" 2>/dev/null)" ] || fail "the user probed anyway: $(cat "$pub"/rt/hearth/accel-*) root: $(cat "$root_file")"
	rm -f "$root_file" "$root_file.lock"
}

# A host without /dev/kvm (here: a mount namespace whose /dev lacks it):
# qemu runs the guest under TCG and says why; firecracker is unavailable
# with the reason, and its tests skip rather than fail.
test_no_kvm_host() {
	need_qemu
	command -v unshare >/dev/null || skip "unshare missing"
	local root=$HEARTH_STATE_DIR/nokvm out
	out=$(HEARTH_STATE_DIR=$root HEARTH_ACCEL= HEARTH_FIRECRACKER=$(dirname "$0")/../firecracker/firecracker \
		H=$HEARTH R=$HELLO F=$(dirname "$0")/firecracker.sh unshare -m bash -c '
		set -e
		mount -t tmpfs -o mode=755 hearth-nokvm /dev
		for n in "null 1 3" "zero 1 5" "random 1 8" "urandom 1 9"; do set -- $n; mknod -m 666 /dev/$1 c $2 $3; done
		[ ! -e /dev/kvm ]
		"$H" backends
		name=$("$H" run --rootfs "$R" --memory 128)
		"$H" status "$name" --json
		"$H" rm -f "$name" >/dev/null
		HEARTH_TEST_ONLY= HEARTH_TEST_REQUIRE= bash "$F" 2>&1 | grep -E "^(ok|skip|FAIL)"
		' 2>&1) || fail "no-KVM host: $out"
	echo "$out" | grep -A1 -E '^qemu +available' | grep -q 'accel tcg (/dev/kvm: No such file or directory)' ||
		fail "qemu: $out"
	echo "$out" | grep -Eq '^firecracker +unavailable' || fail "firecracker: $out"
	echo "$out" | grep -A1 -E '^firecracker +unavailable' | grep -q 'but /dev/kvm: No such file or directory' ||
		fail "no reason: $out"
	echo "$out" | grep -q '"accel": "tcg"' || fail "guest not under tcg: $out"
	echo "$out" | grep -q '^skip test_fc_full_life: .*no /dev/kvm' || fail "firecracker tests did not skip: $out"
	! echo "$out" | grep -q '^FAIL' || fail "a test failed without KVM: $out"
}

test_valgrind_cli_paths() {
	need_qemu
	command -v valgrind >/dev/null || skip "valgrind missing"
	local vg="valgrind -q --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect --error-exitcode=9 --child-silent-after-fork=yes"
	$vg "$HEARTH" run --rootfs "$HELLO" --name vg -p "$(free_port):80" --memory 128 >/dev/null || fail "run: valgrind exit $?"
	$vg "$HEARTH" ps >/dev/null || fail "ps: valgrind exit $?"
	$vg "$HEARTH" ps --json >/dev/null || fail "ps --json"
	$vg "$HEARTH" inspect vg >/dev/null || fail "inspect"
	$vg "$HEARTH" status vg >/dev/null || fail "status"
	[ "$(echo in | $vg "$HEARTH" exec -i vg cat)" = in ] || fail "exec: valgrind exit $?"
	local rc=0
	$vg "$HEARTH" exec vg sh -c 'exit 5' || rc=$?
	[ $rc = 5 ] || fail "exec status under valgrind: $rc"
	rc=0
	$vg "$HEARTH" exec vg /no/such 2>/dev/null || rc=$?
	[ $rc = 127 ] || fail "exec not found under valgrind: $rc"
	$vg "$HEARTH" cp vg:/etc "$WORK/vg-etc" || fail "cp out: valgrind exit $?"
	$vg "$HEARTH" cp "$WORK/vg-etc" vg:/tmp/etc2 || fail "cp in: valgrind exit $?"
	$vg "$HEARTH" stop vg >/dev/null || fail "stop: valgrind exit $?"
	$vg "$HEARTH" rm vg >/dev/null || fail "rm"
	rc=0
	$vg "$HEARTH" run --rootfs /nope 2>/dev/null || rc=$?
	[ $rc = 2 ] || fail "bad input under valgrind: exit $rc"
}

t test_full_life
t test_kill_9_turns_failed
t test_monitor_killed_never_running
t test_inspect_round_trip
t test_bad_input_leaves_nothing
t test_port_in_use
t test_concurrent_runs
t test_auto_names_and_backends
t test_no_kvm_host
t test_qmp_answer_bounded
t test_status_texts
t test_logs_escaped_on_a_tty
t test_kvm_verdict_cache
# valgrind cannot run ASan binaries; the plain build's run covers it.
[ -n "${HEARTH_SANITIZED:-}" ] || t test_valgrind_cli_paths
report
