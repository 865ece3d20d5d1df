#!/usr/bin/env bash
# Builds hearth's microVM guest kernel from Debian's linux-source-6.1:
# tinyconfig plus kernel/microvm.config, everything built in.
# The result is cached under $HEARTH_CACHE_DIR (default ~/.cache/hearth)
# by the hash of its inputs, so a machine builds it once.
# Usage: kernel/build.sh OUTDIR   (copies vmlinux and bzImage there)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: kernel/build.sh OUTDIR}
tarball=${HEARTH_KERNEL_SOURCE:-/usr/src/linux-source-6.1.tar.xz}
cache=${HEARTH_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hearth}

if [ ! -r "$tarball" ]; then
	echo "kernel/build.sh: error: kernel source '$tarball' not found (apt-get install linux-source-6.1)" >&2
	exit 1
fi

# Progress: one line updated in place on a terminal, a line per tenth
# otherwise (logs). The kernel's build prints a line per object; the
# total is what the last build here counted, else what this config
# needed when it was written.
STEPS_DEFAULT=1480
steps_estimate() { cat "$cache/kernel/steps" 2>/dev/null || echo $STEPS_DEFAULT; }
say() { echo "kernel/build.sh: $*" >&2; }
progress() {
	local total n=0 tenth=0 pct line tty=
	total=$(steps_estimate)
	[ -t 2 ] && tty=1
	while IFS= read -r line; do
		case "$line" in "  CC "* | "  AS "* | "  LD "* | "  AR "* | "  OBJCOPY "* | "  LDS "*) ;; *) continue ;; esac
		n=$((n + 1))
		pct=$((n * 100 / total))
		[ $pct -le 99 ] || pct=99
		if [ -n "$tty" ]; then
			printf '\r\033[Kkernel/build.sh: %3d%% %5d/~%d %s' $pct $n "$total" "${line##* }" >&2
		elif [ $((pct / 10)) -gt $tenth ]; then
			tenth=$((pct / 10))
			say "compiled $n of ~$total ($((tenth * 10))%)"
		fi
	done
	[ -z "$tty" ] || printf '\r\033[K' >&2
	say "compiled $n files"
	mkdir -p "$cache/kernel" && echo $n >"$cache/kernel/steps"
}

# The key covers the source (by its package version, not its 130 MB of
# bytes), the fragment and the recipe below: bump RECIPE when a change
# here changes the kernel (progress output does not).
RECIPE=2
src_id=$(stat -c '%s-%Y' "$tarball")
key=$( (cat "$here/microvm.config" && echo "recipe $RECIPE") | sha256sum | cut -c1-16)-$src_id
dest=$cache/kernel/$key
mkdir -p "$out"

if [ ! -s "$dest/vmlinux" ] || [ ! -s "$dest/bzImage" ]; then
	work=$(mktemp -d "${TMPDIR:-/tmp}/hearth-kernel.XXXXXX")
	trap 'rm -rf "$work"' EXIT
	echo "kernel/build.sh: building the guest kernel in $work (once per machine, minutes)" >&2
	say "unpacking $tarball"
	tar -xf "$tarball" -C "$work"
	say "configuring (tinyconfig + microvm.config)"
	ksrc=$(echo "$work"/linux-source-*)
	make -C "$ksrc" -s ARCH=x86_64 tinyconfig >/dev/null
	"$ksrc/scripts/kconfig/merge_config.sh" -m -O "$ksrc" "$ksrc/.config" "$here/microvm.config" >/dev/null
	make -C "$ksrc" -s ARCH=x86_64 olddefconfig >/dev/null
	# merge_config warns rather than fails; a dropped option is a broken guest.
	missing=0
	while IFS= read -r line; do
		case "$line" in CONFIG_*=y) ;; *) continue ;; esac
		grep -qx "$line" "$ksrc/.config" || { echo "kernel/build.sh: error: option not set: $line" >&2; missing=1; }
	done <"$here/microvm.config"
	[ "$missing" = 0 ] || exit 1
	say "compiling (about $(steps_estimate) files; $(nproc) jobs)"
	make -C "$ksrc" ARCH=x86_64 -j"$(nproc)" vmlinux bzImage | progress
	mkdir -p "$dest.tmp"
	cp "$ksrc/vmlinux" "$dest.tmp/vmlinux"
	cp "$ksrc/arch/x86/boot/bzImage" "$dest.tmp/bzImage"
	cp "$ksrc/.config" "$dest.tmp/config"
	strip --strip-debug "$dest.tmp/vmlinux" 2>/dev/null || true
	rm -rf "$dest"
	mv "$dest.tmp" "$dest"
fi

cp "$dest/vmlinux" "$dest/bzImage" "$out/"
echo "kernel/build.sh: $out/vmlinux $out/bzImage (cache $dest)" >&2
