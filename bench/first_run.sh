#!/usr/bin/env bash
# The first `hearth run` against the second: the first in a fresh state
# root (the machine's KVM verdict known, as on every run but a machine's
# very first), the very first on the machine (no verdict: a fresh
# runtime directory too), and the second in the same root. On this host
# (KVM present, unusable: the verdict is TCG) and with HEARTH_ACCEL=tcg.
# Each to ready, then stopped and removed. Median of N (default 11).
# HEARTH_BIN measures another build (an older one) the same way.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${HEARTH_BUILD:-build}
N=${N:-11}
hearth=${HEARTH_BIN:-$PWD/$B/hearth} # HEARTH_BIN: another build, e.g. an older one
work=$(mktemp -d /tmp/hearth-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
. bench/lib.sh

# run_ms ROOT RUNTIME: one run to ready in state root ROOT; prints ms.
run_ms() {
	local t0 t1
	t0=$(ms)
	HEARTH_STATE_DIR=$1 HEARTH_RUNTIME_DIR=$2 "$hearth" run --rootfs "$B/guest/hello.ext4" --name bench \
		--memory 512 --cpus 2 >/dev/null
	t1=$(ms)
	HEARTH_STATE_DIR=$1 "$hearth" rm -f bench >/dev/null
	echo $((t1 - t0))
}

i=0
fresh_root() { i=$((i + 1)); run_ms "$work/root$i" "$work/runtime"; }
very_first() { i=$((i + 1)); sleep 3; run_ms "$work/root$i" "$work/runtime$i"; }
second() { run_ms "$work/warm" "$work/runtime"; }

# HANG=1: a KVM that hangs guests instead of failing them at once (the
# host the first-minutes issue was measured on): a QEMU wrapper that
# never returns when asked for -accel kvm, and passes everything else on.
if [ "${HANG:-}" = 1 ]; then
	printf '#!/bin/sh\ncase " $* " in *" -accel kvm "*) exec sleep 3600 ;; esac\nexec qemu-system-x86_64 "$@"\n' \
		>"$work/qemu-hangs-on-kvm"
	chmod +x "$work/qemu-hangs-on-kvm"
	export HEARTH_QEMU=$work/qemu-hangs-on-kvm
fi

for accel in "" tcg; do
	export HEARTH_ACCEL=$accel
	echo "== HEARTH_ACCEL=${accel:-unset} (verdict: $(HEARTH_RUNTIME_DIR=$work/runtime "$hearth" backends | sed -n '2s/.*accel //p'))"
	compare "first run in a fresh state root" "first (fresh root)" "second (same root)" fresh_root second
	# The background probe of a machine's very first run competes for the
	# CPU with the next measurement: sleep it off before each (untimed).
	compare "very first run on the machine (no verdict)" "very first" "second (same root)" very_first second
done
