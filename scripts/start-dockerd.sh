#!/usr/bin/env bash
# Starts dockerd in the background unless one answers already, and waits
# until it does (the Docker backend's tests need it). Run as root.
set -euo pipefail
if docker version >/dev/null 2>&1; then
	exit 0
fi
log=${DOCKERD_LOG:-/var/log/hearth-dockerd.log}
# A dockerd that died without cleaning up (a crash, a machine restored
# from an image) leaves its pid file, and a new one refuses to start.
pidfile=/var/run/docker.pid
if [ -f "$pidfile" ]; then
	pid=$(cat "$pidfile" 2>/dev/null || true)
	if ! [ -n "$pid" ] || ! grep -qs dockerd "/proc/$pid/comm"; then
		rm -f "$pidfile"
	fi
fi
nohup dockerd >"$log" 2>&1 &
for _ in $(seq 1 150); do
	docker version >/dev/null 2>&1 && exit 0
	sleep 0.2
done
echo "start-dockerd.sh: error: dockerd did not answer within 30 s; see $log" >&2
tail -n 20 "$log" >&2
exit 1
