#!/usr/bin/env bash
# A real Debian 12 root filesystem (tests/debian/build.sh: debootstrap
# minbase, cached) on qemu and docker: the distro's own files, names that
# are not ASCII or not UTF-8, a capability xattr, hard links; the Docker
# import all or nothing (a rootfs that cannot be read, an Engine that
# drops the upload half-way, a tag left by a cut import).
. "$(dirname "$0")/../lib.sh"

new_state
WORK=$(mktemp -d /tmp/hearth-deb.XXXXXX)
# The images this file's rootfs files became go with it.
remove_images() {
	docker images --format '{{.Repository}}:{{.Tag}}' 2>/dev/null | grep -E '^hearth/(debian|broken):' |
		xargs -r docker rmi >/dev/null 2>&1 || true
}
trap 'cleanup_state; remove_images; umount "$WORK/mnt" 2>/dev/null; rm -rf "$WORK"' EXIT
DEB=$WORK/debian.ext4
HELLO=$GUEST/hello.ext4
BUILD=$(dirname "$0")/../debian/build.sh

# The names the builder puts in /srv/names, as hex (what the guest prints).
expected_names() {
	python3 - <<'PY'
names = [b"F\xc5\x91tan\xc3\xbas\xc3\xadtv\xc3\xa1ny.pem", b"caf\xe9", b"\xff\xfe-invalid", b"new\nline",
         b"long-" + b"0" * 250, b"link-to-caf\xe9", b"hard-link"]
for n in sorted(names):
    print("name: " + n.hex())
PY
}

need_debian() {
	[ "$(id -u)" = 0 ] || skip "debootstrap and the listing's loop mount need root"
	command -v debootstrap >/dev/null || skip "debootstrap missing (apt-get install debootstrap)"
	if [ ! -s "$DEB" ]; then
		"$BUILD" "$GUEST/hearth-init" "$DEB" || fail "building the Debian rootfs"
	fi
}

need_docker() {
	command -v docker >/dev/null || skip "docker missing (apt-get install docker.io)"
	docker version >/dev/null 2>&1 || skip "dockerd not running"
}

# What the workload printed: the os line, the names, the capability.
guest_report() {
	"$HEARTH" logs "$1" | tr -d '\r' | grep -E '^(os|name|ping|workload): '
}

assert_report() {
	local name=$1 cap=$2 report
	wait_for "\"$HEARTH\" logs $name | grep -q 'workload: done'" 60
	report=$(guest_report "$name")
	echo "$report" | grep -qx 'os: Debian GNU/Linux 12 (bookworm)' || fail "$name: os-release: $report"
	[ "$(echo "$report" | grep '^name: ' | sort)" = "$(expected_names)" ] ||
		fail "$name: names differ: $(diff <(echo "$report" | grep '^name: ' | sort) <(expected_names))"
	if [ "$cap" = kept ]; then
		echo "$report" | grep -q '^ping: /usr/bin/ping cap_net_raw=ep' || fail "$name: capability lost: $report"
	fi
}

test_debian_on_qemu() {
	need_debian
	"$HEARTH" run --rootfs "$DEB" --name deb-q --memory 256 >/dev/null
	assert_report deb-q kept
	"$HEARTH" rm -f deb-q >/dev/null
}

# Every file of the image, as a listing: name bytes (hex), type, mode,
# owner, size, content hash or link target, capability. From a directory
# (the ext4 mounted read-only) or from a tar file (docker export).
listing() {
	python3 - "$@" <<'PY'
import hashlib, os, stat, sys, tarfile
# What the Engine's init layer adds to every container.
SKIP = {b".dockerenv", b"etc/hostname", b"etc/hosts", b"etc/resolv.conf", b"etc/mtab"}
SKIP_UNDER = (b"dev/", b"proc/", b"sys/")
def row(name, kind, mode, uid, gid, size, what, cap):
    if name in SKIP or name.startswith(SKIP_UNDER) or name in (b"dev", b"proc", b"sys", b""):
        return None
    return f"{name.hex()} {kind} {mode:o} {uid}:{gid} {size} {what} {cap.hex() if cap else '-'}"
rows = []
if sys.argv[1] == "dir":
    root = os.fsencode(sys.argv[2])
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(d, n)
            st = os.lstat(p)
            rel = os.path.relpath(p, root)
            kind = "d" if stat.S_ISDIR(st.st_mode) else "l" if stat.S_ISLNK(st.st_mode) else "f" if stat.S_ISREG(st.st_mode) else "o"
            what = "-"
            if kind == "f":
                what = hashlib.sha256(open(p, "rb").read()).hexdigest()[:16]
            elif kind == "l":
                what = os.readlink(p).hex()
            try:
                cap = os.getxattr(p, "security.capability", follow_symlinks=False)
            except OSError:
                cap = None
            rows.append(row(rel, kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_size if kind == "f" else 0, what, cap))
else:
    t = tarfile.open(sys.argv[2], mode="r|", encoding="utf-8", errors="surrogateescape")
    links = {}
    for m in t:
        name = m.name.encode("utf-8", "surrogateescape").rstrip(b"/")
        kind = "d" if m.isdir() else "l" if m.issym() else "f" if (m.isfile() or m.islnk()) else "o"
        what, size = "-", 0
        if m.isfile():
            data = t.extractfile(m).read()
            what, size = hashlib.sha256(data).hexdigest()[:16], len(data)
            links[name] = (what, size)
        elif m.islnk():
            what, size = links[m.linkname.encode("utf-8", "surrogateescape")]
        elif m.issym():
            what = m.linkname.encode("utf-8", "surrogateescape").hex()
        cap = m.pax_headers.get("SCHILY.xattr.security.capability")
        cap = cap.encode("utf-8", "surrogateescape") if cap else None
        rows.append(row(name, kind, stat.S_IMODE(m.mode), m.uid, m.gid, size, what, cap))
print("\n".join(sorted(r for r in rows if r)))
PY
}

test_debian_on_docker() {
	need_debian
	need_docker
	LC_ALL=C "$HEARTH" run --backend docker --rootfs "$DEB" --name deb-d --memory 256 >/dev/null
	assert_report deb-d kept
	# Every file arrives with the same name bytes, type, mode, owner and
	# content: the image as the Engine holds it against the ext4 itself.
	local image
	image=$(docker inspect -f '{{.Config.Image}}' hearth-deb-d)
	mkdir -p "$WORK/mnt"
	mount -o loop,ro "$DEB" "$WORK/mnt"
	listing dir "$WORK/mnt" >"$WORK/ext4.list"
	umount "$WORK/mnt"
	local cid
	cid=$(docker create "$image" /none)
	# Not image.tar: beside a rootfs, that name is an image to load.
	docker export -o "$WORK/export.tar" "$cid"
	listing tar "$WORK/export.tar" >"$WORK/image.list"
	rm -f "$WORK/export.tar"
	docker rm "$cid" >/dev/null
	[ "$(wc -l <"$WORK/ext4.list")" -gt 5000 ] || fail "listing too short: $(wc -l <"$WORK/ext4.list")"
	grep -q "^$(printf 'usr/bin/ping' | od -An -v -tx1 | tr -d ' \n') f .* [0-9a-f]\{40,\}$" "$WORK/ext4.list" ||
		fail "test data: ping has no capability in the ext4"
	diff "$WORK/ext4.list" "$WORK/image.list" >"$WORK/diff" || fail "listings differ: $(head -n 20 "$WORK/diff")"
	"$HEARTH" rm -f deb-d >/dev/null
}

hearth_images() {
	docker images --format '{{.Repository}}:{{.Tag}}' | grep '^hearth/' | sort
}

dangling() {
	docker images -q -f dangling=true | sort
}

# A rootfs that cannot be read, past its first files: no image, no tag,
# nothing dangling; once it is whole again, it imports.
test_import_unreadable_rootfs() {
	need_docker
	mkdir -p "$WORK/bad/etc/hearth"
	head -c 3000000 /dev/urandom >"$WORK/bad/big.bin"
	"$(dirname "$0")/../../examples/hello/build.sh" "$GUEST/hearth-init" "$WORK/broken.ext4" "$WORK/bad" >/dev/null
	cp "$WORK/broken.ext4" "$WORK/whole.ext4"
	# Point big.bin's one extent (i_block[5]: its start) past the image's end.
	local ino
	ino=$(debugfs -R 'stat /big.bin' "$WORK/broken.ext4" 2>/dev/null | sed -n 's/^Inode: \([0-9]*\).*/\1/p')
	[ -n "$ino" ] || fail "no inode for big.bin"
	debugfs -w -R "sif <$ino> block[5] 999999" "$WORK/broken.ext4" >/dev/null 2>&1
	local before_images before_dangling rc=0 out
	before_images=$(hearth_images)
	before_dangling=$(dangling)
	out=$(LC_ALL=C "$HEARTH" run --backend docker --rootfs "$WORK/broken.ext4" --name broken 2>&1) || rc=$?
	[ $rc = 1 ] || fail "exit $rc: $out"
	[ "$(echo "$out" | wc -l)" = 1 ] && echo "$out" | grep -q '^hearth: error: ext4: ' || fail "error: $out"
	[ "$(hearth_images)" = "$before_images" ] || fail "an image was tagged: $(hearth_images)"
	[ "$(dangling)" = "$before_dangling" ] || fail "a dangling image was left"
	[ ! -e "$HEARTH_STATE_DIR/vms/broken" ] || fail "state left"
	# The same name with the whole image: imported and running.
	cp "$WORK/whole.ext4" "$WORK/broken.ext4"
	"$HEARTH" run --backend docker --rootfs "$WORK/broken.ext4" --name broken >/dev/null || fail "retry"
	"$HEARTH" rm -f broken >/dev/null
}

# An Engine that drops the upload half-way (a proxy on its socket that
# closes both ends after 1 MB): no tag, nothing dangling; the retry
# imports again.
test_import_cut_by_the_engine() {
	need_docker
	need_debian
	local sock=$WORK/cut.sock
	python3 "$(dirname "$0")/../engine_proxy.py" "$sock" cut-import &
	PROXY_PID=$!
	# The test runs in a subshell of its own: its exit, not the file's,
	# must take the proxy down, whether it passes or fails.
	trap 'kill $PROXY_PID 2>/dev/null || true' EXIT
	wait_for "[ -S '$sock' ]" 10
	# No image of it yet (test_debian_on_docker made one): it must import.
	remove_images
	local before_images before_dangling rc=0 out
	before_images=$(hearth_images)
	before_dangling=$(dangling)
	out=$(DOCKER_HOST=unix://$sock "$HEARTH" run --backend docker --rootfs "$DEB" --name cut 2>&1) || rc=$?
	[ $rc = 1 ] || fail "exit $rc: $out"
	[ "$(echo "$out" | wc -l)" = 1 ] || fail "not one line: $out"
	[ "$(hearth_images)" = "$before_images" ] || fail "an image was tagged: $(hearth_images)"
	[ "$(dangling)" = "$before_dangling" ] || fail "a dangling image was left: $(dangling)"
	kill $PROXY_PID
	# Straight to the Engine: imported (again) and running.
	"$HEARTH" run --backend docker --rootfs "$DEB" --name cut >/dev/null || fail "retry"
	"$HEARTH" rm -f cut >/dev/null
}

# A tag that an older, cut import left (no content label, other
# content) is never used: the image is imported again and the tag moved.
test_import_poisoned_tag_not_used() {
	need_docker
	LC_ALL=C "$HEARTH" run --backend docker --rootfs "$HELLO" --name pois >/dev/null
	local ref
	ref=$(docker inspect -f '{{.Config.Image}}' hearth-pois)
	"$HEARTH" rm -f pois >/dev/null
	docker rmi "$ref" >/dev/null
	# What an older hearth left: a tiny image under the same tag.
	printf 'x' >"$WORK/x"
	tar -C "$WORK" -c x | docker import - "$ref" >/dev/null
	"$HEARTH" run --backend docker --rootfs "$HELLO" --name pois >/dev/null || fail "run with a poisoned tag"
	[ "$(docker inspect -f '{{index .Config.Labels "hearth.content"}}' "$ref")" = "${ref##*:}" ] ||
		fail "the tag still names other content"
	"$HEARTH" logs pois | grep -q 'hearth-init: ready' || fail "not the hello image"
	"$HEARTH" rm -f pois >/dev/null
}

t test_debian_on_qemu
t test_debian_on_docker
t test_import_unreadable_rootfs
t test_import_cut_by_the_engine
t test_import_poisoned_tag_not_used
report
