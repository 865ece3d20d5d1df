#!/usr/bin/env bash
# libhearth as a library (#15): a program embedding it through hearth.pc,
# the CLI on the public API alone, and the layers of the source kept
# apart (cli -> core -> backends -> lib, the environment read once).
. "$(dirname "$0")/../lib.sh"

new_state
WORK=$(mktemp -d /tmp/hearth-lib.XXXXXX)
trap 'cleanup_state; rm -rf "$WORK"' EXIT
HELLO=$GUEST/hello.ext4
SRC=$(cd "$(dirname "$0")/../.." && pwd)

test_two_roots_one_process() {
	command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 missing"
	command -v pkg-config >/dev/null || skip "pkg-config missing"
	[ -s "$B/hearth-uninstalled.pc" ] || fail "build first (make)"
	local san=
	[ -z "${HEARTH_SANITIZED:-}" ] || san="-fsanitize=address,undefined -fno-omit-frame-pointer"
	# shellcheck disable=SC2046,SC2086
	cc -std=gnu11 -Wall -Wextra -Werror $san -o "$WORK/two_roots" "$SRC/tests/embed/two_roots.c" \
		$(PKG_CONFIG_PATH=$B pkg-config --cflags --libs hearth jansson)
	# It is linked against the shared library, not a copy of it.
	ldd "$WORK/two_roots" | grep -q "$B/libhearth.so" || fail "not linked to $B/libhearth.so: $(ldd "$WORK/two_roots")"
	local a=$WORK/root-a b=$WORK/root-b
	mkdir -m 700 "$a" "$b"
	"$WORK/two_roots" "$a" "$b" "$HELLO" >"$WORK/out" 2>&1 || fail "$(cat "$WORK/out")"
	grep -q "^twin in $a: running" "$WORK/out" || fail "$(cat "$WORK/out")"
	grep -q "^twin in $b: running" "$WORK/out" || fail "$(cat "$WORK/out")"
	[ "$(grep -c '^monitor [0-9]* runs .*/hearth-monitor$' "$WORK/out")" = 2 ] || fail "$(cat "$WORK/out")"
	# Both gone, with their monitors and VMMs.
	[ -z "$(find "$a/vms" "$b/vms" -mindepth 1)" ] || fail "state left: $(find "$a/vms" "$b/vms" -mindepth 1)"
	! pgrep -f "$WORK/root-" >/dev/null || fail "a process of the test roots runs on: $(pgrep -af "$WORK/root-")"
}

test_cli_on_the_public_api() {
	# hearth-shared is the CLI linked against libhearth.so, which exports
	# the public API alone: it links only while the CLI uses nothing else.
	[ -x "$B/hearth-shared" ] || fail "no $B/hearth-shared"
	ldd "$B/hearth-shared" | grep -q 'libhearth.so' || fail "not linked to libhearth.so"
	"$B/hearth-shared" version | grep -q '^hearth ' || fail "version"
	"$B/hearth-shared" ps -a >/dev/null || fail "ps"
	local bad
	bad=$(nm -D --defined-only "$B/libhearth.so" | awk '$2 ~ /[TDBR]/ && $3 !~ /^hearth_/ {print $3}' |
		grep -vE '^(_init|_fini|__bss_start|_edata|_end)$' || true)
	[ -z "$bad" ] || fail "exported beyond hearth_*: $bad"
}

# The objects of the sources in src/DIR (a build tree may keep objects
# of files since moved).
objects() {
	local c
	for c in "$SRC"/src/"$1"/*.c; do
		c=${c##*/}
		echo "$B/obj/src/$1/${c%.c}.o"
	done
}

# Undefined symbols of the objects of src/FROM that the objects of the
# other directories define.
reaches() {
	local from=$1
	shift
	local defined used d
	# shellcheck disable=SC2046
	used=$(nm -u $(objects "$from") | awk 'NF == 2 {print $2}' | sort -u)
	for d in "$@"; do
		# shellcheck disable=SC2046
		defined=$(nm --defined-only $(objects "$d") | awk '$2 ~ /[TDBR]/ {print $3}' | sort -u)
		comm -12 <(echo "$used") <(echo "$defined") | sed "s|^|$from -> $d: |"
	done
}

test_layers() {
	[ -d "$B/obj/src/core" ] || fail "build first (make)"
	local up
	# Calls go down only: lib calls nothing above it, image (OCI images)
	# only lib, backends not the core.
	up=$(reaches lib core backends image monitor cli; reaches image core backends monitor cli
		reaches backends core monitor cli; reaches core cli monitor)
	[ -z "$up" ] || fail "calls up the layers: $up"
	# Includes too; the CLI includes public headers alone.
	up=$(grep -nE '#include "(core|backends|image|cli|monitor)/' "$SRC"/src/lib/*.[ch] || true)
	up+=$(grep -nE '#include "(core|backends|cli|monitor)/' "$SRC"/src/image/*.[ch] || true)
	up+=$(grep -nE '#include "(core|cli|monitor)/' "$SRC"/src/backends/*.[ch] || true)
	up+=$(grep -nE '#include "(lib|core|backends|image|monitor)/' "$SRC"/src/cli/*.[ch] || true)
	[ -z "$up" ] || fail "includes up the layers: $up"
	# The environment is read in one place: the context (PATH aside, which
	# is how programs are found).
	local env
	env=$(grep -rn 'getenv(' "$SRC"/src | grep -v '^[^:]*src/lib/ctx.c:' | grep -v 'getenv("PATH")' || true)
	[ -z "$env" ] || fail "environment read outside ctx.c: $env"
}

t test_two_roots_one_process
t test_cli_on_the_public_api
t test_layers
report
