#!/usr/bin/env bash
# The soak behind docs/reliability.md (not part of make check; as root):
#  cycles  CYCLES start/ready/stop/rm cycles per backend (qemu, docker),
#          WORKERS at a time, beside a long-lived guest: afterwards no
#          process, TAP, temp file or state byte beyond the live guest's,
#          and the long-lived monitor holds as many descriptors as before.
#  kills   KILLS starts (qemu), each with kill -9 of the CLI, the monitor
#          or the VMM at a random moment: within 1 s the status is true
#          (running only with a live VMM; otherwise failed or stopped),
#          and nothing is left once they are removed.
#  race    PARALLEL bridged starts at once in a namespace of the soak's
#          own: unique names, addresses and ports, exactly one winner per
#          contested name and per contested port.
# Usage: bench/soak.sh [cycles|kills|race ...]   (default: all three)
set -u
cd "$(dirname "$0")/.."
B=${HEARTH_BUILD:-build}
case "$B" in /*) ;; *) B=$(pwd)/$B ;; esac
HEARTH=$B/hearth
HELLO=$B/guest/hello.ext4
CYCLES=${CYCLES:-1000}
WORKERS=${WORKERS:-4}
KILLS=${KILLS:-200}
PARALLEL=${PARALLEL:-50}
export HEARTH_STATE_DIR
HEARTH_STATE_DIR=$(mktemp -d /tmp/hearth-soak.XXXXXX)
NS=hearth-soak$$
ERRS=$(mktemp -d /tmp/hearth-soak-errs.XXXXXX)
trap 'for n in $(ls "$HEARTH_STATE_DIR/vms" 2>/dev/null); do "$HEARTH" rm -f "$n" >/dev/null 2>&1; done
      ip netns list | grep -qw "$NS" && { for n in $(ls "$HEARTH_STATE_DIR/vms" 2>/dev/null); do
        ip netns exec "$NS" "$HEARTH" rm -f "$n" >/dev/null 2>&1; done; ip netns del "$NS"; }
      rm -rf "$HEARTH_STATE_DIR" "$ERRS"' EXIT

say() { printf '%s\n' "$*"; }
"$HEARTH" ps >/dev/null # the root and its vms/, before anything is counted

# What a guest can leave behind, counted host-wide for this state root.
leftovers() {
	local procs taps tmp bytes
	procs=$(pgrep -fc "qemu-system.*$HEARTH_STATE_DIR|hearth.*__monitor" || true)
	taps=$(ip -o link show type tun 2>/dev/null | wc -l)
	tmp=$(( $(ls -A /tmp /var/tmp | grep -vc '^hearth-soak' || true) ))
	# Beyond the live guests': cache/ is shared, keeper's console grows.
	bytes=$(du -sb --exclude=keeper "$HEARTH_STATE_DIR/vms" | cut -f1)
	echo "$procs $taps $tmp $bytes"
}

# True while PID runs: a zombie (killed, not yet reaped by init) does not.
running() {
	local st
	st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) && [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

fds_of() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }

# Fields of `hearth status NAME --json`, space-separated, "-" for none.
status_json() {
	local name=$1
	shift
	"$HEARTH" status "$name" --json 2>/dev/null | jq -r "[$(printf '.%s,' "$@" | sed 's/,$//')] | map(. // \"-\" | tostring) | join(\" \")"
}

cycles() {
	local backend=$1
	"$HEARTH" run --rootfs "$HELLO" --name keeper --memory 128 -p "$((20000 + RANDOM % 20000)):80" >/dev/null
	local mon
	mon=$(status_json keeper monitor_pid)
	local fds0 before
	fds0=$(fds_of "$mon")
	read -r p0 t0 f0 b0 <<<"$(leftovers)"
	local per=$((CYCLES / WORKERS)) w fails=0 t_start=$SECONDS
	for w in $(seq 1 "$WORKERS"); do
		(
			bad=0
			for i in $(seq 1 "$per"); do
				n=soak-$w-$i
				"$HEARTH" run --backend "$backend" --rootfs "$HELLO" --name "$n" --memory 128 >/dev/null 2>"$ERRS/$n" &&
					"$HEARTH" stop "$n" >/dev/null 2>>"$ERRS/$n" && "$HEARTH" rm "$n" >/dev/null 2>>"$ERRS/$n" || {
					bad=$((bad + 1))
					"$HEARTH" status "$n" >>"$ERRS/$n" 2>&1
					"$HEARTH" rm -f "$n" >/dev/null 2>&1
				}
				[ -s "$ERRS/$n" ] || rm -f "$ERRS/$n"
			done
			exit $((bad > 250 ? 250 : bad))
		) &
	done
	for w in $(seq 1 "$WORKERS"); do
		wait -n
		fails=$((fails + $?))
	done
	local secs=$((SECONDS - t_start))
	read -r p1 t1 f1 b1 <<<"$(leftovers)"
	local fds1
	fds1=$(fds_of "$mon")
	local containers=0
	[ "$backend" != docker ] || containers=$(docker ps -aq --filter label=hearth.managed=true \
		--filter "name=hearth-soak-" | wc -l)
	"$HEARTH" rm -f keeper >/dev/null
	for e in $(ls "$ERRS" | head -n 3); do say "  failed $e: $(tr '\n' ' ' <"$ERRS/$e")"; done
	rm -f "$ERRS"/*
	say "cycles $backend: $((per * WORKERS)) in $secs s ($WORKERS at a time), $fails failed;" \
		"left: processes $((p1 - p0)), TAPs $((t1 - t0)), temp files $((f1 - f0)), state bytes $((b1 - b0))," \
		"containers $containers; long-lived monitor fds $fds0 -> $fds1"
}

kills() {
	local i what delay n untrue=0 slow=0 t_start=$SECONDS
	local -A by=([cli]=0 [monitor]=0 [vmm]=0)
	read -r p0 t0 f0 b0 <<<"$(leftovers)"
	for i in $(seq 1 "$KILLS"); do
		n=kill-$i
		what=$(shuf -n1 -e cli monitor vmm)
		delay=$(shuf -n1 -i 0-1500)
		"$HEARTH" run --rootfs "$HELLO" --name "$n" --memory 128 >/dev/null 2>&1 &
		local cli=$!
		disown $cli # its kill is expected, not a job to report
		sleep "$(printf '0.%03d' "$delay")"
		local pid=$cli
		if [ "$what" != cli ]; then
			pid=$(status_json "$n" "${what}_pid")
			[ -n "$pid" ] && [ "$pid" != 0 ] && [ "$pid" != - ] || { pid=$cli; what=cli; }
		fi
		by[$what]=$((by[$what] + 1))
		kill -9 "$pid" 2>/dev/null
		# True within 1 s: running only with its VMM alive; else not.
		local ok=0 t
		for t in $(seq 1 10); do
			sleep 0.1
			local st vmm alive=0
			read -r st vmm <<<"$(status_json "$n" status vmm_pid)"
			[ "${vmm:-0}" != 0 ] && [ "$vmm" != - ] && running "$vmm" && alive=1
			case $st in
			'') [ ! -e "$HEARTH_STATE_DIR/vms/$n" ] && ok=1 ;; # killed before it made anything
			running) [ $alive = 1 ] && ok=1 ;;
			failed | stopped) [ $alive = 0 ] && ok=1 ;;
			starting) [ "$what" = cli ] && [ $alive = 1 ] && ok=1 ;; # handed over, still booting
			esac
			[ $ok = 1 ] && break
		done
		[ $ok = 1 ] || { untrue=$((untrue + 1)); say "  untrue: $n after kill -9 of the $what at ${delay} ms: $st, vmm alive $alive"; }
		kill -9 "$cli" 2>/dev/null # a CLI still waiting for readiness
		wait "$cli" 2>/dev/null
		"$HEARTH" rm -f "$n" >/dev/null 2>&1 || [ ! -e "$HEARTH_STATE_DIR/vms/$n" ] || slow=$((slow + 1))
	done
	sleep 1
	read -r p1 t1 f1 b1 <<<"$(leftovers)"
	[ "$p1" = "$p0" ] || pgrep -fa "qemu-system.*$HEARTH_STATE_DIR|hearth.*__monitor" | sed 's/^/  left: /'
	say "kills: $KILLS starts in $((SECONDS - t_start)) s (cli ${by[cli]}, monitor ${by[monitor]}, vmm ${by[vmm]}):" \
		"untrue status after 1 s: $untrue; rm failures: $slow;" \
		"left: processes $((p1 - p0)), TAPs $((t1 - t0)), temp files $((f1 - f0)), state bytes $((b1 - b0))"
}

race() {
	ip netns add "$NS"
	ip netns exec "$NS" ip link set lo up
	local out=$HEARTH_STATE_DIR/../hearth-soak-race.$$
	mkdir -p "$out"
	local i groups=5 per=$((PARALLEL / 5))
	# Groups: same name A, same name B, same port P, same port Q, all free.
	for i in $(seq 1 "$PARALLEL"); do
		local g=$(((i - 1) / per)) args=()
		case $g in
		0) args=(--name same-a) ;;
		1) args=(--name same-b) ;;
		2) args=(--name "p-$i" -p 18201:80) ;;
		3) args=(--name "q-$i" -p 18202:80) ;;
		*) args=(--name "free-$i" -p "$((18300 + i)):80") ;;
		esac
		(ip netns exec "$NS" "$HEARTH" run --rootfs "$HELLO" --network bridge --memory 128 --no-wait "${args[@]}" \
			>/dev/null 2>"$out/$i.err"
			echo $? >"$out/$i.rc") &
	done
	wait
	local wins=() g
	for g in 0 1 2 3 4; do
		local w=0
		for i in $(seq $((g * per + 1)) $(((g + 1) * per))); do
			[ "$(cat "$out/$i.rc")" = 0 ] && w=$((w + 1))
		done
		wins+=("$w")
	done
	local ips
	ips=$(ip netns exec "$NS" "$HEARTH" ps --json | python3 -c '
import json, sys
g = json.load(sys.stdin)
ips = [x["guest_ip"] for x in g]
print(len(ips), len(set(ips)))')
	say "race: $PARALLEL bridged starts at once: winners per group (name A, name B, port P, port Q, free):" \
		"${wins[*]} (want 1 1 1 1 $per); guests and distinct addresses: $ips"
	rm -rf "$out"
}

phases=${*:-cycles kills race}
for ph in $phases; do
	case $ph in
	cycles) cycles qemu; cycles docker ;;
	kills) kills ;;
	race) race ;;
	*) echo "unknown phase $ph" >&2; exit 2 ;;
	esac
done
