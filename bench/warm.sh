#!/usr/bin/env bash
# Warm starts (#14) on QEMU, the hello guest (256 MiB, 1 vCPU):
#  time:   `hearth run --template hello` to ready against a cold
#          `hearth run --rootfs hello.ext4` of the same guest (medians of N);
#  memory: PSS summed over the QEMU processes of K guests against K cold
#          boots (smaps_rollup, once all are ready and a second has
#          passed): guests from the held template (each starts the
#          workload), clones of one running guest (a template taken
#          --from it: the workload runs on), and clones of a running guest
#          that holds a working set (64 MiB made at start, as a loaded
#          runtime or a warmed cache would);
#  scale:  start time of cold, warm (template) and clone (of a running
#          guest) as the number of guests already running grows, drawn
#          to bench/warm.png with gnuplot when it is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${HEARTH_BUILD:-build}
N=${N:-11}
K=${K:-10}
S=${S:-8} # guests of each kind in the scale run
hearth=$PWD/$B/hearth
hello=$PWD/$B/guest/hello.ext4
work=$(mktemp -d /tmp/hearth-wbench.XXXXXX)
export HEARTH_STATE_DIR=$work/state
. bench/lib.sh
rm_all() {
	local n
	for n in $(ls "$HEARTH_STATE_DIR/vms" 2>/dev/null); do "$hearth" rm -f "$n" >/dev/null 2>&1 || true; done
}
trap 'rm_all; rm -rf "$work"' EXIT

"$hearth" template create hello --rootfs "$hello" --memory 256 --cpus 1 >/dev/null

cold() {
	local t0=$(ms)
	"$hearth" run --rootfs "$hello" --memory 256 --cpus 1 --name cold >/dev/null
	echo $(($(ms) - t0))
	"$hearth" rm -f cold >/dev/null
}
warm() {
	local t0=$(ms)
	"$hearth" run --template hello --name warm >/dev/null
	echo $(($(ms) - t0))
	"$hearth" rm -f warm >/dev/null
}
compare "to ready, one guest" "hearth run --template" "hearth run (cold boot)" warm cold

# PSS of every QEMU of this state root, in MiB.
pss_mib() {
	local total=0 pid kb
	for pid in $(pgrep -f "qemu-system.*$HEARTH_STATE_DIR/vms/"); do
		kb=$(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup")
		total=$((total + kb))
	done
	echo $((total / 1024))
}
# Starts K guests with "$@" (NAME is replaced by each one's name), prints
# their PSS, then removes every guest.
pss_of_k() {
	local i
	for i in $(seq 1 "$K"); do "$hearth" "${@//NAME/g$i}" >/dev/null; done
	sleep 1
	pss_mib
	rm_all
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a/b}'; }

# A guest is cloned once its workload serves (the log line), as one
# clones a running service; the held template's guests start theirs.
cold_pss=$(pss_of_k run --rootfs "$hello" --memory 256 --cpus 1 --name NAME)
held_pss=$(pss_of_k run --template hello --name NAME)
"$hearth" run --rootfs "$hello" --memory 256 --cpus 1 --name origin --ready "log:serving http" >/dev/null
"$hearth" template create running --from origin >/dev/null
"$hearth" rm -f origin >/dev/null
clone_pss=$(pss_of_k run --template running --name NAME)

# The working-set guest: hello whose workload first writes 64 MiB of
# random bytes to /tmp (a tmpfs: guest memory), ready once it serves.
ws=$work/ws.ext4
cp "$hello" "$ws"
{
	echo '#!/bin/sh'
	echo 'head -c 64m /dev/urandom >/tmp/state'
	debugfs -R "cat /etc/hearth/start" "$hello" 2>/dev/null | tail -n +2
} >"$work/start"
debugfs -w -f - "$ws" >/dev/null 2>&1 <<EOF
rm /etc/hearth/start
write $work/start /etc/hearth/start
sif /etc/hearth/start mode 0100755
EOF
ws_flags=(--rootfs "$ws" --memory 256 --cpus 1 --ready "log:serving http")
ws_cold_pss=$(pss_of_k run "${ws_flags[@]}" --name NAME)
"$hearth" run "${ws_flags[@]}" --name origin >/dev/null
"$hearth" template create ws --from origin >/dev/null
"$hearth" rm -f origin >/dev/null
ws_clone_pss=$(pss_of_k run --template ws --name NAME)

echo "memory, PSS summed over $K QEMU processes (MiB: guests, cold boots, ratio)"
printf '  %-52s %5s %5s %s\n' \
	"hello from the held template (workload starts)" "$held_pss" "$cold_pss" "$(ratio "$held_pss" "$cold_pss")" \
	"hello, clones of a running guest (template --from)" "$clone_pss" "$cold_pss" "$(ratio "$clone_pss" "$cold_pss")" \
	"64 MiB working set, clones of a running guest" "$ws_clone_pss" "$ws_cold_pss" \
	"$(ratio "$ws_clone_pss" "$ws_cold_pss")"

# Start time as guests accumulate: the Nth guest of each kind, with N-1
# of its kind running.
"$hearth" run --rootfs "$hello" --memory 256 --cpus 1 --name origin --ready "log:serving http" >/dev/null
echo "start time with N guests running (ms): N cold warm clone"
: >"$work/scale.dat"
for n in $(seq 1 "$S"); do
	t0=$(ms)
	"$hearth" run --rootfs "$hello" --memory 256 --cpus 1 --name "c$n" >/dev/null
	c=$(($(ms) - t0))
	t0=$(ms)
	"$hearth" run --template hello --name "w$n" >/dev/null
	w=$(($(ms) - t0))
	t0=$(ms)
	"$hearth" clone origin "k$n" >/dev/null
	k=$(($(ms) - t0))
	echo "  $n $c $w $k"
	echo "$n $c $w $k" >>"$work/scale.dat"
done
rm_all
if command -v gnuplot >/dev/null; then
	gnuplot <<EOF
set terminal png size 800,480
set output "bench/warm.png"
set title "hearth on QEMU (TCG): start to ready as guests accumulate"
set xlabel "guests of each kind already running + 1"
set ylabel "ms to ready"
set yrange [0:*]
set key top left
plot "$work/scale.dat" using 1:2 with linespoints title "cold boot (hearth run)", \
     "$work/scale.dat" using 1:3 with linespoints title "warm (hearth run --template)", \
     "$work/scale.dat" using 1:4 with linespoints title "clone (hearth clone)"
EOF
	echo "plot: bench/warm.png"
else
	echo "(no gnuplot: apt-get install gnuplot-nox for bench/warm.png)"
fi
