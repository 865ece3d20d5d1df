#!/usr/bin/env bash
# The demo: a hello guest with a published port, its page fetched,
# `hearth ps` shown, the guest stopped and removed.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${HEARTH_BUILD:-build}
hearth=$B/hearth
port=${HEARTH_DEMO_PORT:-8080}

echo "\$ hearth run --rootfs $B/guest/hello.ext4 -p $port:80 --name demo"
"$hearth" rm -f demo >/dev/null 2>&1 || true
"$hearth" run --rootfs "$B/guest/hello.ext4" -p "$port:80" --name demo
for _ in $(seq 1 100); do
	curl -sf "http://127.0.0.1:$port/" >/dev/null && break
	sleep 0.1
done
echo "\$ curl http://127.0.0.1:$port/"
curl -sS "http://127.0.0.1:$port/"
echo "\$ hearth ps"
"$hearth" ps
echo "\$ hearth stop demo"
"$hearth" stop demo
"$hearth" status demo
"$hearth" rm demo >/dev/null
