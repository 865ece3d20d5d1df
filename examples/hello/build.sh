#!/usr/bin/env bash
# Builds the hello guest's root filesystem, an ext4 image made with
# `mke2fs -d` from a staging tree: busybox-static, hearth-init as
# /sbin/init, and the workload in rootfs/etc/hearth/start. No root, no
# loop mount.
# Usage: examples/hello/build.sh HEARTH_INIT OUT.ext4 [OVERLAY_DIR]
# OVERLAY_DIR, when given, is copied over the tree last (tests use it to
# make variants of the guest).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
init=${1:?usage: build.sh HEARTH_INIT OUT.ext4}
out=${2:?usage: build.sh HEARTH_INIT OUT.ext4}
busybox=${BUSYBOX:-/bin/busybox}

if ! file -L "$busybox" 2>/dev/null | grep -q 'statically linked' && ! ldd "$busybox" 2>&1 | grep -q 'not a dynamic'; then
	echo "hello/build.sh: error: $busybox is not a static busybox (apt-get install busybox-static)" >&2
	exit 1
fi

stage=$(mktemp -d "${TMPDIR:-/tmp}/hearth-hello.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,etc,dev,proc,sys,run,tmp,root,mnt,var}
chmod 1777 "$stage/tmp"
chmod 0700 "$stage/root"
cp "$busybox" "$stage/bin/busybox"
for applet in $("$busybox" --list-full); do
	[ -e "$stage/$applet" ] || ln -s /bin/busybox "$stage/$applet"
done
rm -f "$stage/sbin/init"
install -m 0755 "$init" "$stage/sbin/init"
cp -a "$here/rootfs/." "$stage/"
[ -z "${3:-}" ] || cp -a "$3/." "$stage/"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$stage/etc/passwd"
printf 'root:x:0:\n' >"$stage/etc/group"

rm -f "$out.tmp"
mke2fs -q -t ext4 -L hello-root -E root_owner=0:0 -d "$stage" "$out.tmp" 32M >/dev/null
mv "$out.tmp" "$out"
