#!/usr/bin/env bash
# Warm starts (#14) on QEMU, the hello guest (256 MiB, 1 vCPU):
#  time:   `hearth run --template hello` to ready against a cold
#          `hearth run --rootfs hello.ext4` of the same guest (medians of N);
#  memory: PSS summed over the QEMU processes of K guests started from
#          the template against K cold boots (smaps_rollup, once all are
#          ready and a second has passed);
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
for i in $(seq 1 "$K"); do "$hearth" run --rootfs "$hello" --memory 256 --cpus 1 --name "c$i" >/dev/null; done
sleep 1
cold_pss=$(pss_mib)
rm_all
for i in $(seq 1 "$K"); do "$hearth" run --template hello --name "w$i" >/dev/null; done
sleep 1
warm_pss=$(pss_mib)
rm_all
echo "memory, PSS summed over $K QEMU processes"
printf '  %-28s %s MiB\n' "$K from the template:" "$warm_pss" "$K cold boots:" "$cold_pss"
printf '  %-28s %s\n' "ratio template/cold:" "$(awk -v a="$warm_pss" -v b="$cold_pss" 'BEGIN {printf "%.2f", a/b}')"

# Start time as guests accumulate: the Nth guest of each kind, with N-1
# of its kind running.
"$hearth" run --rootfs "$hello" --memory 256 --cpus 1 --name origin >/dev/null
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
