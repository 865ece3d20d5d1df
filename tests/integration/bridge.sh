#!/usr/bin/env bash
# Bridge networking for real, inside a network namespace this file makes
# and removes: two QEMU guests on hearth's bridge reach each other, and
# published tcp and udp ports reach each from the namespace's loopback;
# after stop no TAP, no proxy, no address is left. Nothing leaves the
# namespace.
. "$(dirname "$0")/../lib.sh"

new_state
WORK=$(mktemp -d /tmp/hearth-br.XXXXXX)
trap 'cleanup_ns; rm -rf "$WORK"' EXIT
HELLO=$GUEST/hello.ext4
export HEARTH_BRIDGE_CIDR=10.77.0.0/24

need_ns() {
	[ "$(id -u)" = 0 ] || skip "bridge networking needs root"
	command -v ip >/dev/null || skip "ip (iproute2) missing"
	command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 missing"
	[ -s "$GUEST/udp-echo" ] || fail "build the guest kit first (make)"
	netns_up
}

# hello, plus a udp echo on 5353 and a client that fetches the page of
# the peer named in /mnt/config/peer until it answers.
peer_image() {
	[ -s "$WORK/peer.ext4" ] && return 0
	mkdir -p "$WORK/overlay/etc/hearth" "$WORK/overlay/usr/bin"
	cp "$GUEST/udp-echo" "$WORK/overlay/usr/bin/udp-echo"
	cat >"$WORK/overlay/etc/hearth/start" <<'SH'
#!/bin/sh
udp-echo 5353 &
nc -ll -p 9000 -e cat &
if [ -f /mnt/config/peer ]; then
	(for i in $(seq 1 300); do
		# busybox wget crashes in static builds (NSS); nc takes numbers.
		page=$(printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 2 "$(cat /mnt/config/peer)" 80 | tail -n 1)
		[ -n "$page" ] && break
		sleep 0.2
	done; echo "peer: $page") &
fi
mkdir -p /run/www
echo "hello from hearth $HEARTH_NAME" >/run/www/index.html
exec httpd -f -p 80 -h /run/www
SH
	chmod 0755 "$WORK/overlay/etc/hearth/start"
	"$(dirname "$0")/../../examples/hello/build.sh" "$GUEST/hearth-init" "$WORK/peer.ext4" "$WORK/overlay" >/dev/null
}

udp_ask() {
	in_ns python3 - "$1" "$2" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.sendto(sys.argv[2].encode(), ("127.0.0.1", int(sys.argv[1])))
print(s.recvfrom(2048)[0].decode())
PY
}

taps() {
	in_ns ip -o link show type tun 2>/dev/null | awk -F': ' '{print $2}'
}

test_two_guests_talk_and_publish() {
	need_ns
	peer_image
	echo 10.77.0.3 >"$WORK/peer-of-a"
	echo 10.77.0.2 >"$WORK/peer-of-b"
	in_ns "$HEARTH" run --rootfs "$WORK/peer.ext4" --name a --network bridge --memory 256 --cpus 1 \
		-p 18080:80 -p 15353:5353/udp -p 18082:9000 --config-file "peer=$WORK/peer-of-a" >/dev/null
	in_ns "$HEARTH" run --rootfs "$WORK/peer.ext4" --name b --network bridge --memory 256 --cpus 1 \
		-p 18081:80 -p 15354:5353/udp --config-file "peer=$WORK/peer-of-b" >/dev/null
	"$HEARTH" status a --json | python3 -c '
import json, sys
r = json.load(sys.stdin)
n = r["network_info"]
assert r["guest_ip"] == "10.77.0.2/24" and r["gateway"] == "10.77.0.1", r
assert n["mode"] == "bridge" and n["bridge"] == "hearth0" and n["slot"] == 0, n
assert n["mac"] == "06:00:0a:4d:00:02", n'
	[ "$(taps | wc -l)" = 2 ] || fail "want 2 TAPs, have: $(taps)"
	in_ns ip -o link show master hearth0 | grep -q "$(status_field b network_info tap)" ||
		fail "b's TAP not on the bridge"
	# Guest to guest, over the bridge.
	wait_for "'$HEARTH' logs a | grep -q 'peer: hello from hearth b'" 30
	wait_for "'$HEARTH' logs b | grep -q 'peer: hello from hearth a'" 30
	# Host to guest, straight and through the published ports.
	[ "$(in_ns curl -s -m 5 http://10.77.0.3/)" = "hello from hearth b" ] || fail "bridge address of b"
	wait_for "in_ns curl -sf -m 2 http://127.0.0.1:18080/" 20
	[ "$(in_ns curl -s -m 5 http://127.0.0.1:18080/)" = "hello from hearth a" ] || fail "tcp port of a"
	[ "$(in_ns curl -s -m 5 http://127.0.0.1:18081/)" = "hello from hearth b" ] || fail "tcp port of b"
	# A large body both ways proves the proxy's buffering.
	head -c 3000000 /dev/urandom >"$WORK/big"
	in_ns python3 - "$WORK/big" <<'PY' || fail "tcp echo through the proxy differs"
import socket, sys, threading
data = open(sys.argv[1], "rb").read()
s = socket.create_connection(("127.0.0.1", 18082), timeout=30)
def send():
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
threading.Thread(target=send).start()
got = bytearray()
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    got += chunk
sys.exit(0 if bytes(got) == data else 1)
PY
	[ "$(udp_ask 15353 ping-a)" = "echo: ping-a" ] || fail "udp port of a"
	[ "$(udp_ask 15354 ping-b)" = "echo: ping-b" ] || fail "udp port of b"
	in_ns ss -ltnH | grep -q '127.0.0.1:18080' || fail "no tcp listener"
	[ -z "${KEEP:-}" ] || return 1
	in_ns "$HEARTH" stop a b >/dev/null
	[ -z "$(taps)" ] || fail "TAPs left: $(taps)"
	[ -z "$(in_ns ss -ltnuH | grep -E ':1808[012]|:1535[34]')" ] || fail "proxy left: $(in_ns ss -ltnuH)"
	[ "$(in_ns ip -4 -o addr show | grep -c 10.77.0)" = 1 ] || fail "addresses left: $(in_ns ip -4 -o addr show)"
	! in_ns iptables-save 2>/dev/null | grep -q hearth || fail "iptables rule left"
	# The slots are free again: the next guest gets the first address.
	in_ns "$HEARTH" run --rootfs "$HELLO" --name c --network bridge --memory 256 --cpus 1 >/dev/null
	[ "$(status_field c guest_ip)" = 10.77.0.2/24 ] ||
		fail "slot 0 not reused"
	in_ns "$HEARTH" rm -f a b c >/dev/null
}

test_taken_port_leaves_nothing() {
	need_ns
	in_ns python3 -c 'import socket,time; s=socket.socket(); s.bind(("127.0.0.1",18090)); s.listen(); time.sleep(30)' &
	local holder=$!
	sleep 0.5
	local rc=0 out
	out=$(in_ns "$HEARTH" run --rootfs "$HELLO" --name taken --network bridge -p 18090:80 2>&1) || rc=$?
	kill $holder
	[ $rc = 1 ] || fail "exit $rc: $out"
	echo "$out" | grep -q '18090' || fail "error does not name the port: $out"
	[ ! -e "$HEARTH_STATE_DIR/vms/taken" ] || fail "state left"
	[ -z "$(taps)" ] || fail "TAP left: $(taps)"
}

test_killed_monitor_tap_removed_by_rm() {
	need_ns
	in_ns "$HEARTH" run --rootfs "$HELLO" --name gone --network bridge --memory 256 --cpus 1 >/dev/null
	local mon vmm
	mon=$(status_field gone monitor_pid)
	vmm=$(status_field gone vmm_pid)
	kill -9 "$mon"
	wait_for "! alive $vmm" 10
	"$HEARTH" status gone | grep -q '^failed' || fail "status: $("$HEARTH" status gone)"
	[ -n "$(taps)" ] || fail "the TAP should outlive a killed monitor until rm"
	in_ns "$HEARTH" rm gone
	[ -z "$(taps)" ] || fail "TAP left after rm: $(taps)"
}

test_bad_network_mode() {
	local rc=0 out
	out=$("$HEARTH" run --rootfs "$HELLO" --name bad --network wifi 2>&1) || rc=$?
	[ $rc = 2 ] && [ "$out" = "hearth: error: network: want user, bridge or none (wifi)" ] || fail "exit $rc: $out"
	rc=0
	out=$("$HEARTH" run --rootfs "$HELLO" --name bad --backend microvm-nix --network bridge 2>&1) || rc=$?
	[ $rc = 2 ] && echo "$out" | grep -q "network: the microvm-nix backend has no bridge mode" || fail "exit $rc: $out"
	rc=0
	out=$(HEARTH_BRIDGE_CIDR=10.77.0.0/33 "$HEARTH" run --rootfs "$HELLO" --name bad --network bridge 2>&1) || rc=$?
	[ $rc = 2 ] && echo "$out" | grep -q "HEARTH_BRIDGE_CIDR: want ADDR/16..29 (10.77.0.0/33)" || fail "exit $rc: $out"
	[ ! -e "$HEARTH_STATE_DIR/vms/bad" ] || fail "state left"
}

test_nat_rule_in_namespace() {
	need_ns
	command -v iptables >/dev/null || skip "iptables missing"
	in_ns sh -c 'echo 0 >/proc/sys/net/ipv4/ip_forward'
	HEARTH_NAT=1 in_ns "$HEARTH" run --rootfs "$HELLO" --name natted --network bridge --memory 256 --cpus 1 >/dev/null
	in_ns iptables -t nat -S POSTROUTING | grep -q -- '-s 10.77.0.0/24 ! -o hearth0 .*MASQUERADE' ||
		fail "no NAT rule: $(in_ns iptables -t nat -S POSTROUTING)"
	[ "$(in_ns cat /proc/sys/net/ipv4/ip_forward)" = 1 ] || fail "forwarding off"
	in_ns "$HEARTH" rm -f natted >/dev/null
	in_ns "$HEARTH" network rm
	# hearth turned forwarding on: back off, as it was.
	[ "$(in_ns cat /proc/sys/net/ipv4/ip_forward)" = 0 ] || fail "forwarding left on"
	# Already on before hearth: left on.
	in_ns sh -c 'echo 1 >/proc/sys/net/ipv4/ip_forward'
	HEARTH_NAT=1 in_ns "$HEARTH" run --rootfs "$HELLO" --name natted2 --network bridge --memory 256 --no-wait >/dev/null
	in_ns "$HEARTH" rm -f natted2 >/dev/null
	in_ns "$HEARTH" network rm
	[ "$(in_ns cat /proc/sys/net/ipv4/ip_forward)" = 1 ] || fail "forwarding turned off though hearth had not turned it on"
	! in_ns iptables -t nat -S POSTROUTING | grep -q hearth || fail "NAT rule left"
	! in_ns ip link show hearth0 2>/dev/null || fail "bridge left"
}

# Concurrent starts under the state lock: every guest its own slot.
test_concurrent_bridged_starts() {
	need_ns
	local i pids=()
	for i in 1 2 3 4 5 6; do
		in_ns "$HEARTH" run --rootfs "$HELLO" --name "par$i" --network bridge --memory 128 --cpus 1 --no-wait \
			>/dev/null &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i" || fail "a run failed"; done
	local ips
	ips=$(for i in 1 2 3 4 5 6; do status_field "par$i" guest_ip; done)
	[ "$(echo "$ips" | sort -u | wc -l)" = 6 ] || fail "shared addresses: $ips"
	[ "$(taps | wc -l)" = 6 ] || fail "want 6 TAPs: $(taps)"
	in_ns "$HEARTH" rm -f par1 par2 par3 par4 par5 par6 >/dev/null
	[ -z "$(taps)" ] || fail "TAPs left: $(taps)"
}

# Clients that come before the guest listens, give up, or reset: the
# proxy drops them and keeps serving, without spinning the monitor.
test_proxy_unruly_clients() {
	need_ns
	in_ns "$HEARTH" run --rootfs "$HELLO" --name unruly --network bridge -p 18095:80 --memory 256 --cpus 1 --no-wait \
		>/dev/null
	local mon i
	mon=$(status_field unruly monitor_pid)
	for i in $(seq 1 20); do in_ns curl -s -m 0.3 http://127.0.0.1:18095/ >/dev/null || true; done
	wait_for "in_ns curl -sf -m 2 http://127.0.0.1:18095/" 60
	in_ns python3 - <<'PY'
import socket, struct
for _ in range(20):
    s = socket.create_connection(("127.0.0.1", 18095), timeout=5)
    s.sendall(b"GET / HTTP/1.0\r\n")
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()  # a reset, mid-request
for _ in range(20):
    s = socket.create_connection(("127.0.0.1", 18095), timeout=5)
    s.shutdown(socket.SHUT_WR)  # a half-close before any byte
    s.recv(100)
    s.close()
PY
	local before after
	before=$(awk '{print $14 + $15}' "/proc/$mon/stat")
	sleep 3
	after=$(awk '{print $14 + $15}' "/proc/$mon/stat")
	[ $((after - before)) -lt 30 ] || fail "the monitor spins: $((after - before)) ticks in 3 s"
	[ "$(in_ns curl -s -m 5 http://127.0.0.1:18095/)" = "hello from hearth unruly" ] || fail "no page after"
	in_ns "$HEARTH" rm -f unruly >/dev/null
}

# 10. Limits: one client gets at most 128 connections and 32 udp flows
# of a port, others still get in; out of descriptors, the monitor rests
# instead of spinning, and serves again once they are back.
test_proxy_limits() {
	need_ns
	peer_image
	trap 'in_ns "$HEARTH" rm -f limits >/dev/null 2>&1 || true' EXIT # passed or failed
	in_ns "$HEARTH" run --rootfs "$WORK/peer.ext4" --name limits --network bridge -p 18096:9000 \
		-p 15355:5353/udp --memory 256 --cpus 1 >/dev/null
	wait_for "[ \"\$(udp_ask 15355 hi)\" = 'echo: hi' ]" 60
	local mon
	mon=$(status_field limits monitor_pid)
	in_ns python3 - <<'PY' || fail "limits per client"
import socket, time
held = []
for _ in range(140):
    held.append(socket.create_connection(("127.0.0.1", 18096), timeout=5))
time.sleep(0.5)
closed = 0
for s in held[128:]:
    s.settimeout(2)
    try:
        closed += s.recv(1) == b""
    except ConnectionResetError:
        closed += 1
assert closed == 12, closed
# Another client address is served meanwhile (the port echoes).
o = socket.create_connection(("127.0.0.1", 18096), timeout=5, source_address=("127.0.0.2", 0))
o.sendall(b"other\n")
assert o.recv(100) == b"other\n"
# udp: 40 source ports of one address, 32 flows in all answered
socks = []
for i in range(40):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(2)
    u.sendto(b"f%d" % i, ("127.0.0.1", 15355))
    socks.append(u)
got = 0
for u in socks:
    try:
        u.recvfrom(100)
        got += 1
    except socket.timeout:
        pass
assert got == 31, got  # the wait_for above holds the 32nd flow
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.settimeout(3)
u.bind(("127.0.0.2", 0))
u.sendto(b"x", ("127.0.0.1", 15355))
assert u.recvfrom(100)[0] == b"echo: x"
PY
	# Out of descriptors: 40 more connections than the monitor may open.
	prlimit --pid "$mon" --nofile=40: # the soft limit: no CAP_SYS_RESOURCE needed
	in_ns python3 - <<'PY' &
import socket, time
held = []
for _ in range(60):
    try:
        held.append(socket.create_connection(("127.0.0.1", 18096), timeout=2))
    except OSError:
        pass
time.sleep(4)
PY
	local holder=$!
	sleep 1
	local before after
	before=$(awk '{print $14 + $15}' "/proc/$mon/stat")
	sleep 2
	after=$(awk '{print $14 + $15}' "/proc/$mon/stat")
	wait $holder
	[ $((after - before)) -lt 40 ] || fail "the monitor spins out of descriptors: $((after - before)) ticks in 2 s"
	prlimit --pid "$mon" --nofile=1024:
	# Served again once the connections above have drained (the guest
	# closes its side of each as its echo ends).
	wait_for "in_ns python3 -c '
import socket
o = socket.create_connection((\"127.0.0.1\", 18096), timeout=5)
o.sendall(b\"back\\n\")
assert o.recv(100) == b\"back\\n\"'" 20 || fail "not served after descriptors came back"
}

# Guests from one template on the bridge: each renumbered to its own
# slot's address and MAC by hearth-init before its workload starts, each
# reached there; a clone of a running one moves to a slot of its own too.
test_template_guests_renumbered() {
	need_ns
	command -v qemu-img >/dev/null || skip "qemu-img missing (qemu-utils)"
	in_ns "$HEARTH" template create brt --network bridge --rootfs "$HELLO" --memory 256 --cpus 1 >/dev/null
	in_ns "$HEARTH" run --template brt --name ta >/dev/null
	in_ns "$HEARTH" run --template brt --name tb >/dev/null
	local g ip mac
	for g in ta tb; do
		ip=$(status_field $g guest_ip)
		mac=$(status_field $g network_info mac)
		in_ns "$HEARTH" exec $g ip -o -4 addr show eth0 | grep -q "inet $ip " || fail "$g eth0: $(in_ns "$HEARTH" exec $g ip -o -4 addr show eth0)"
		in_ns "$HEARTH" exec $g cat /sys/class/net/eth0/address | grep -qx "$mac" || fail "$g MAC not $mac"
		in_ns "$HEARTH" exec $g ip route | grep -q "default via 10.77.0.1" || fail "$g route"
		wait_for "in_ns curl -sf http://${ip%/*}/" 20
		[ "$(in_ns curl -s "http://${ip%/*}/")" = "hello from hearth $g" ] || fail "$g at ${ip%/*}: $(in_ns curl -s "http://${ip%/*}/")"
	done
	[ "$(status_field ta guest_ip)" != "$(status_field tb guest_ip)" ] || fail "same address twice"
	in_ns "$HEARTH" clone ta tc >/dev/null
	ip=$(status_field tc guest_ip)
	[ "$ip" != "$(status_field ta guest_ip)" ] || fail "the clone kept its source's address"
	wait_for "in_ns curl -sf http://${ip%/*}/" 20 # the source's server, moved with the clone
	in_ns "$HEARTH" rm -f ta tb tc >/dev/null
	in_ns "$HEARTH" template rm brt >/dev/null
	[ -z "$(taps)" ] || fail "TAPs left: $(taps)"
}

t test_proxy_limits
t test_template_guests_renumbered
t test_two_guests_talk_and_publish
t test_taken_port_leaves_nothing
t test_killed_monitor_tap_removed_by_rm
t test_bad_network_mode
t test_nat_rule_in_namespace
t test_concurrent_bridged_starts
t test_proxy_unruly_clients
report
