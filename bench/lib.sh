# Shared by the benchmarks: a millisecond clock and a median.
ms() { date +%s%N | cut -c1-13; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# compare TITLE HEARTH_LABEL RAW_LABEL HEARTH_FN RAW_FN: runs each function
# (which prints its milliseconds) once to warm up, then N times
# alternately, and prints both medians with every run, and their ratio.
compare() {
	local title=$1 hlabel=$2 rlabel=$3 hfn=$4 rfn=$5 h=() r=() hm rm_
	"$hfn" >/dev/null
	"$rfn" >/dev/null
	for _ in $(seq 1 "${N:-5}"); do
		h+=("$("$hfn")")
		r+=("$("$rfn")")
	done
	hm=$(printf '%s\n' "${h[@]}" | median)
	rm_=$(printf '%s\n' "${r[@]}" | median)
	echo "$title (${N:-5} runs each)"
	printf '  %-28s median %s ms  (%s)\n' "$hlabel:" "$hm" "${h[*]}"
	printf '  %-28s median %s ms  (%s)\n' "$rlabel:" "$rm_" "${r[*]}"
	printf '  %-28s %s\n' "ratio hearth/raw:" "$(awk -v a="$hm" -v b="$rm_" 'BEGIN {printf "%.2f", a/b}')"
}

# A network namespace for this benchmark (in_ns runs in it), removed on
# exit with every guest of $HEARTH_STATE_DIR and the work dir $work.
netns_up() {
	ns=hearth-bench$$
	ip netns add "$ns"
	trap 'ip netns exec "$ns" "$hearth" stop --all --timeout 0 >/dev/null 2>&1 || true; ip netns del "$ns"; rm -rf "$work"' EXIT
	in_ns ip link set lo up
}
in_ns() { ip netns exec "$ns" "$@"; }

# The empty config and secrets drives the hand-written commands attach,
# made before timing (hearth makes its own while timed).
empty_drives() {
	mke2fs -q -t ext4 -L hearth-config "$1/config.img" 4M >/dev/null
	mke2fs -q -t ext4 -L hearth-secrets "$1/secrets.img" 4M >/dev/null
}

# hearth run ARGS... to ready and rm, in the namespace; prints ms.
hearth_run_ms() {
	local t0 t1
	t0=$(ms)
	in_ns "$hearth" run "$@" --rootfs "$B/guest/hello.ext4" --name bench --memory 512 --cpus 2 >/dev/null
	t1=$(ms)
	in_ns "$hearth" rm -f bench >/dev/null
	echo $((t1 - t0))
}

# The bridge hearth would make, by hand (once), and TAP rawtap on it.
raw_tap_up() {
	in_ns ip link show hearth0 >/dev/null 2>&1 || {
		in_ns ip link add hearth0 type bridge
		in_ns ip addr add "$1" dev hearth0
		in_ns ip link set hearth0 up
	}
	in_ns ip tuntap add dev rawtap mode tap vnet_hdr
	in_ns ip link set rawtap master hearth0 up
}

# Waits for the ready line in LOG, stops PID and prints the ms since T0.
ready_ms() {
	local t0=$1 log=$2 pid=$3 t1
	until grep -q 'hearth-init: ready' "$log" 2>/dev/null; do sleep 0.005; done
	t1=$(ms)
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	echo $((t1 - t0))
}
