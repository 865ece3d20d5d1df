#!/usr/bin/env bash
# hearth build and hearth run --flake with real nix (offline: no sandbox,
# no substituters), and the microvm-nix backend running a real runner.
. "$(dirname "$0")/../lib.sh"

new_state
WORK=$(mktemp -d /tmp/hearth-nix.XXXXXX)
trap 'cleanup_state; rm -rf "$WORK"' EXIT
# Root without a nixbld group builds as itself; nothing reaches the network.
export NIX_CONFIG=$'sandbox = false\nsubstituters =\nbuild-users-group =\nexperimental-features = nix-command flakes'

need_nix() {
	command -v nix >/dev/null || skip "nix missing (apt-get install nix-bin)"
	command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 missing"
	[ -s "$B/flake/flake.nix" ] || fail "build the example flake first (make)"
	if [ ! -d "$WORK/flake" ]; then
		cp -r "$B/flake" "$WORK/flake"
		GW_PORT=$(free_port)
		sed -i "s/gatewayPort = [0-9]*;/gatewayPort = $GW_PORT;/" "$WORK/flake/flake.nix"
		echo "$GW_PORT" >"$WORK/gw_port"
	fi
	GW_PORT=$(cat "$WORK/gw_port")
	FLAKE=path:$WORK/flake
}

field() {
	python3 -c "import json, sys; v = json.load(sys.stdin)['$1']; print('null' if v is None else v)"
}

test_build_json() {
	need_nix
	"$HEARTH" build --flake "$FLAKE" --json >"$WORK/b.json"
	local out rev
	out=$(field out_path <"$WORK/b.json")
	rev=$(field revision_hash <"$WORK/b.json")
	[ "$rev" = "$(basename "$out" | cut -c1-32)" ] || fail "revision $rev is not the store hash of $out"
	[ "$(field kernel_path <"$WORK/b.json")" = "$out/vmlinux" ] || fail "kernel_path"
	[ "$(field rootfs_path <"$WORK/b.json")" = "$out/rootfs.ext4" ] || fail "rootfs_path"
	[ "$(field runner_dir <"$WORK/b.json")" = null ] || fail "worker has no runner"
	[ "$(field profile <"$WORK/b.json")" = default ] || fail "profile"
	[ "$(field flake_ref <"$WORK/b.json")" = "$FLAKE" ] || fail "flake_ref"
	"$HEARTH" build --flake "$FLAKE" --profile gateway --json | field runner_dir | grep -q '^/nix/store/.*-hearth-gateway$' ||
		fail "gateway has no runner"
	# A relative local flake path is recorded absolute.
	(cd "$WORK" && "$HEARTH" build --flake path:flake --json) | field flake_ref | grep -qx "path:$WORK/flake" ||
		fail "relative flake_ref not made absolute"
}

test_unchanged_flake_not_rebuilt() {
	need_nix
	"$HEARTH" build --flake "$FLAKE" >/dev/null 2>&1
	"$HEARTH" build --flake "$FLAKE" >/dev/null 2>"$WORK/err"
	grep -q "^building" "$WORK/err" && fail "rebuilt: $(cat "$WORK/err")"
	grep -q "unchanged since the last build" "$WORK/err" || fail "not reported unchanged: $(cat "$WORK/err")"
	"$HEARTH" run --flake "$FLAKE" --name norebuild --memory 128 --no-wait >/dev/null 2>"$WORK/err"
	grep -q "^building" "$WORK/err" && fail "run --flake rebuilt"
	"$HEARTH" rm -f norebuild >/dev/null
}

test_changed_flake_new_revision() {
	need_nix
	local a b
	a=$("$HEARTH" build --flake "$FLAKE" --json | field revision_hash)
	cp -r "$WORK/flake" "$WORK/flake2"
	sed -i 's/description = "/description = "changed: /' "$WORK/flake2/flake.nix"
	b=$("$HEARTH" build --flake "path:$WORK/flake2" --json | field revision_hash)
	[ -n "$a" ] && [ -n "$b" ] && [ "$a" != "$b" ] || fail "revision did not change ($a, $b)"
}

test_worker_on_qemu() {
	need_nix
	local port
	port=$(free_port)
	"$HEARTH" run --flake "$FLAKE" --name worker -p "$port:80" --memory 256 >/dev/null
	wait_for "curl -sf http://127.0.0.1:$port/" 30
	[ "$(curl -s "http://127.0.0.1:$port/")" = "hello from hearth worker" ] || fail "page"
	local rev
	rev=$("$HEARTH" build --flake "$FLAKE" --json 2>/dev/null | field revision_hash)
	"$HEARTH" ps --json | python3 -c "
import json, sys
g = [x for x in json.load(sys.stdin) if x['name'] == 'worker'][0]
assert g['backend'] == 'qemu' and g['profile'] == 'default', g
assert g['revision'] == '$rev' and g['flake_ref'] == '$FLAKE', g"
	"$HEARTH" inspect worker | grep -q "\"revision_hash\": \"$rev\"" || fail "inspect lacks the revision"
	"$HEARTH" ps | grep -Eq "^worker +qemu +running .* default@${rev:0:8} " || fail "ps table: $("$HEARTH" ps)"
	"$HEARTH" stop worker >/dev/null
	"$HEARTH" rm worker >/dev/null
}

test_gateway_runner_on_microvm_nix() {
	need_nix
	"$HEARTH" run --flake "$FLAKE" --profile gateway --name gateway >/dev/null
	wait_for "curl -sf http://127.0.0.1:$GW_PORT/" 30
	[ "$(curl -s "http://127.0.0.1:$GW_PORT/")" = "hello from hearth gateway" ] || fail "page"
	"$HEARTH" ps | grep -Eq '^gateway +microvm-nix +running' || fail "ps: $("$HEARTH" ps)"
	# A runner's guest has no agent channel hearth knows: exec says so.
	local rc=0
	"$HEARTH" exec gateway true 2>"$WORK/err" || rc=$?
	[ $rc = 2 ] && grep -q "gateway: exec: the microvm-nix backend has no guest agent" "$WORK/err" ||
		fail "exec: exit $rc: $(cat "$WORK/err")"
	local vmm
	vmm=$("$HEARTH" status gateway --json | field vmm_pid)
	"$HEARTH" stop gateway >/dev/null
	# Stopped through the runner's microvm-shutdown: a clean power-off.
	"$HEARTH" logs gateway | grep -q 'hearth-init: agent: poweroff requested' || fail "not stopped via microvm-shutdown"
	[ "$("$HEARTH" status gateway)" = "stopped by request" ] || fail "status: $("$HEARTH" status gateway)"
	alive "$vmm" && fail "runner still running"
	"$HEARTH" rm gateway >/dev/null
}

test_gateway_on_qemu_backend() {
	need_nix
	local port
	port=$(free_port)
	"$HEARTH" run --flake "$FLAKE" --profile gateway --backend qemu --name gwq -p "$port:80" --memory 256 >/dev/null
	wait_for "curl -sf http://127.0.0.1:$port/" 30
	"$HEARTH" ps | grep -Eq '^gwq +qemu +running' || fail "ps: $("$HEARTH" ps)"
	"$HEARTH" stop gwq >/dev/null
	"$HEARTH" rm gwq >/dev/null
}

# Each failure: a clear error, non-zero exit, no guest state left.
test_build_errors() {
	need_nix
	mkdir -p "$WORK/bad" "$WORK/norootfs"
	echo '{ outputs = { self }: { packages.x86_64-linux.default = 1 +; }; }' >"$WORK/bad/flake.nix"
	local rc=0
	"$HEARTH" run --flake "path:$WORK/bad" --name bad 2>"$WORK/err" || rc=$?
	[ $rc = 1 ] || fail "eval failure: exit $rc"
	grep -q 'error: syntax error' "$WORK/err" || fail "nix's own message missing: $(cat "$WORK/err")"
	grep -q '^hearth: error: build: nix build .* failed' "$WORK/err" || fail "no hearth error line"
	cp "$B/guest/vmlinux" "$WORK/norootfs/"
	cat >"$WORK/norootfs/flake.nix" <<'NIX'
{
  outputs = { self }: {
    packages.x86_64-linux.default = derivation {
      name = "kernel-only"; system = "x86_64-linux"; builder = "/bin/sh"; src = "${self}";
      args = [ "-c" "/bin/mkdir $out && /bin/cp $src/vmlinux $out/" ];
    };
  };
}
NIX
	rc=0
	"$HEARTH" run --flake "path:$WORK/norootfs" --name norootfs 2>"$WORK/err" || rc=$?
	[ $rc = 2 ] || fail "no rootfs: exit $rc"
	grep -q 'has no rootfs.ext4 (found: vmlinux)' "$WORK/err" || fail "$(cat "$WORK/err")"
	rc=0
	"$HEARTH" build --flake "$FLAKE" --profile nope 2>"$WORK/err" || rc=$?
	[ $rc = 1 ] || fail "missing profile: exit $rc"
	grep -q "does not provide attribute .*'packages.x86_64-linux.nope'" "$WORK/err" || fail "$(cat "$WORK/err")"
	rc=0
	"$HEARTH" run --rootfs "$B/guest/hello.ext4" --profile gateway 2>"$WORK/err" || rc=$?
	[ $rc = 2 ] || fail "--profile without --flake: exit $rc"
	echo x >"$WORK/conf"
	rc=0
	"$HEARTH" run --flake "$FLAKE" --profile gateway --name withconf --config-file "c=$WORK/conf" 2>"$WORK/err" || rc=$?
	[ $rc = 2 ] || fail "config file on a runner: exit $rc"
	grep -q 'config_files: the microvm-nix runner fixes its own drives' "$WORK/err" || fail "$(cat "$WORK/err")"
	[ -z "$(ls "$HEARTH_STATE_DIR/vms" 2>/dev/null)" ] || fail "state left: $(ls "$HEARTH_STATE_DIR/vms")"
	return 0
}

t test_build_json
t test_unchanged_flake_not_rebuilt
t test_changed_flake_new_revision
t test_worker_on_qemu
t test_gateway_runner_on_microvm_nix
t test_gateway_on_qemu_backend
t test_build_errors
report
