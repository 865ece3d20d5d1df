#!/usr/bin/env bash
# A real root filesystem nobody here made by hand: Debian 12 minbase from
# debootstrap (with iputils-ping and libcap2-bin, so /usr/bin/ping carries
# a security.capability xattr), from the Debian mirror apt on this machine
# already uses. The tree is cached under $HEARTH_CACHE_DIR/debian by the
# hash of this script, like the kernel. Each call makes OUT.ext4 from it
# with hearth-init as /usr/sbin/init, a workload in /etc/hearth/start,
# and names that are not ASCII, not UTF-8, hold a newline or are long, in
# /srv/names. Root (debootstrap, owners).
# Usage: tests/debian/build.sh HEARTH_INIT OUT.ext4
set -euo pipefail

init=${1:?usage: build.sh HEARTH_INIT OUT.ext4}
out=${2:?usage: build.sh HEARTH_INIT OUT.ext4}
cache=${HEARTH_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hearth}
# The cache key covers what debootstrap is asked for; bump it with them.
DEBOOTSTRAP_ARGS=(--variant=minbase --include=iputils-ping,libcap2-bin bookworm)
key=$(echo "${DEBOOTSTRAP_ARGS[*]} v1" | sha256sum | cut -c1-16)
tree=$cache/debian/$key/root

mirror() {
	local m
	m=$(sed -n 's/^URIs: *\([^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)
	[ -n "$m" ] || m=$(awk '$1 == "deb" && $2 ~ /debian\/?$/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
	echo "${m:-http://deb.debian.org/debian}"
}

if [ ! -x "$tree/bin/sh" ]; then
	command -v debootstrap >/dev/null || { echo "debian/build.sh: error: debootstrap missing (apt-get install debootstrap)" >&2; exit 1; }
	rm -rf "$tree.tmp"
	mkdir -p "$(dirname "$tree")"
	echo "debian/build.sh: debootstrap bookworm minbase from $(mirror) (once per machine)" >&2
	debootstrap "${DEBOOTSTRAP_ARGS[@]}" "$tree.tmp" "$(mirror)" >&2
	rm -rf "$tree.tmp/var/cache/apt/archives"/*.deb "$tree.tmp/var/lib/apt/lists"/*_Packages
	mv "$tree.tmp" "$tree"
fi

stage=$(mktemp -d "${TMPDIR:-/tmp}/hearth-debian.XXXXXX")
trap 'rm -rf "$stage"' EXIT
cp -a "$tree/." "$stage/"
install -m 0755 "$init" "$stage/usr/sbin/init"
mkdir -p "$stage/etc/hearth" "$stage/srv/names"
cat >"$stage/etc/hearth/start" <<'SH'
#!/bin/sh
. /etc/os-release
echo "os: $PRETTY_NAME"
for f in /srv/names/*; do
	printf 'name: %s\n' "$(printf '%s' "${f#/srv/names/}" | od -An -v -tx1 | tr -d ' \n')"
done
echo "ping: $(getcap /usr/bin/ping)"
echo "workload: done"
exec sleep 3600
SH
chmod 0755 "$stage/etc/hearth/start"
names=(
	"$(printf 'F\xc5\x91tan\xc3\xbas\xc3\xadtv\xc3\xa1ny.pem')" # UTF-8
	"$(printf 'caf\xe9')"                                     # Latin-1
	"$(printf '\xff\xfe-invalid')"                            # not UTF-8 at all
	"$(printf 'new\nline')"
	"$(printf 'long-%0250d' 0)"
)
for n in "${names[@]}"; do
	printf '%s' "$n" >"$stage/srv/names/$n"
done
ln -s "$(printf 'caf\xe9')" "$stage/srv/names/$(printf 'link-to-caf\xe9')"
ln "$stage/srv/names/$(printf 'caf\xe9')" "$stage/srv/names/hard-link"
size=$(($(du -sm "$stage" | cut -f1) * 13 / 10 + 64))
rm -f "$out.tmp"
mke2fs -q -t ext4 -L debian-root -d "$stage" "$out.tmp" "${size}M" >/dev/null
mv "$out.tmp" "$out"
