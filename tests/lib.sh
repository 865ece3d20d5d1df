# Shared by the integration tests: a tiny harness. Each test is a shell
# function; `t NAME` runs it and prints "ok NAME" or "FAIL NAME: why".
# A test that needs a missing tool calls `skip WHY`; with
# HEARTH_TEST_REQUIRE=all (CI) a skip counts as a failure.
set -u

B=${HEARTH_BUILD:-build}
case "$B" in /*) ;; *) B=$(pwd)/$B ;; esac
HEARTH=$B/hearth
GUEST=$B/guest
PASSED=0
FAILED=0
SKIPPED=0
export HEARTH_ACCEL=${HEARTH_ACCEL:-}

fail() {
	echo "    $*" >&2
	return 1
}

skip() {
	echo "    skip: $*" >&2
	return 77
}

t() {
	local name=$1
	local out
	# HEARTH_TEST_ONLY=REGEX runs just the tests whose names match.
	[[ -z ${HEARTH_TEST_ONLY:-} || $name =~ $HEARTH_TEST_ONLY ]] || return 0
	out=$(mktemp)
	( set -e; "$name" ) >"$out" 2>&1
	local rc=$?
	if [ $rc = 0 ]; then
		PASSED=$((PASSED + 1))
		echo "ok   $name"
	elif [ $rc = 77 ] && [ "${HEARTH_TEST_REQUIRE:-}" != all ]; then
		SKIPPED=$((SKIPPED + 1))
		echo "skip $name: $(tail -n 1 "$out")"
	else
		FAILED=$((FAILED + 1))
		echo "FAIL $name"
		sed 's/^/  | /' "$out" | tail -n 40
	fi
	rm -f "$out"
}

# True while PID runs; a zombie (exited, not yet reaped) does not count.
alive() {
	local state
	state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# Waits up to $2 seconds (default 30) for command $1 to succeed.
wait_for() {
	local i
	for i in $(seq 1 $((${2:-30} * 10))); do
		if eval "$1" >/dev/null 2>&1; then return 0; fi
		sleep 0.1
	done
	fail "timed out waiting for: $1"
}

# A free loopback port: the kernel picks one, we release it.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# A field of `hearth status NAME --json`, through nested keys:
# status_field NAME network_info tap
status_field() {
	local name=$1
	shift
	"$HEARTH" status "$name" --json | python3 -c '
import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1:]:
    v = v[k]
print(v)' "$@"
}

# A private state root per test file; removed with every guest in it.
new_state() {
	HEARTH_STATE_DIR=$(mktemp -d /tmp/hs.XXXXXX)
	export HEARTH_STATE_DIR
}

# Removes every guest of this test's own state root (containers too),
# never anyone else's.
cleanup_state() {
	if [ -n "${HEARTH_STATE_DIR:-}" ] && [ -d "$HEARTH_STATE_DIR" ]; then
		local n
		for n in $(ls "$HEARTH_STATE_DIR/vms" 2>/dev/null); do
			"$HEARTH" rm -f "$n" >/dev/null 2>&1 || true
		done
		rm -rf "$HEARTH_STATE_DIR"
	fi
}

report() {
	echo "$PASSED $FAILED $SKIPPED" >"${HEARTH_TEST_COUNTS:-/dev/null}"
}

# A network namespace of this test file ($NS, made on first use by
# netns_up, with lo up); in_ns runs a command in it. cleanup_ns removes
# every guest of this file's state root, then the namespace, then any
# guest outside it and the root.
NS=hearth-t$$
in_ns() {
	ip netns exec "$NS" "$@"
}

netns_up() {
	if ! ip netns list | grep -qw "$NS"; then
		ip netns add "$NS"
		in_ns ip link set lo up
	fi
}

cleanup_ns() {
	if ip netns list 2>/dev/null | grep -qw "$NS"; then
		local n
		for n in $(ls "$HEARTH_STATE_DIR/vms" 2>/dev/null); do
			in_ns "$HEARTH" rm -f "$n" >/dev/null 2>&1 || true
		done
		ip netns del "$NS"
	fi
	cleanup_state # guests started outside the namespace, then the root
}
