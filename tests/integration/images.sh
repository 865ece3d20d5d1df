#!/usr/bin/env bash
# OCI images as guests (#12): images made here from busybox-static
# (tests/images/make-image.py: three layers, a whiteout, an opaque
# directory, links, a setuid file, a device node, a file of uid 1000),
# read from an OCI layout, an oci-archive and a docker-archive, unpacked
# into the store and booted on real qemu.
. "$(dirname "$0")/../lib.sh"

new_state
WORK=$(mktemp -d /tmp/hearth-images.XXXXXX)
REGISTRY_PIDS=()
ENGINE_IMAGES=() # what this file put in the Docker Engine, removed at the end
cleanup() {
	cleanup_state
	[ ${#REGISTRY_PIDS[@]} = 0 ] || kill "${REGISTRY_PIDS[@]}" 2>/dev/null
	[ ${#ENGINE_IMAGES[@]} = 0 ] || docker rmi -f "${ENGINE_IMAGES[@]}" >/dev/null 2>&1
	rm -rf "$WORK"
}
trap cleanup EXIT
MAKE_IMAGE=$(cd "$(dirname "$0")/.." && pwd)/images/make-image.py
STORE=$HEARTH_STATE_DIR/images

need_tools() {
	command -v python3 >/dev/null || skip "python3 missing"
	command -v mke2fs >/dev/null || skip "mke2fs missing (apt-get install e2fsprogs)"
	[ -x /bin/busybox ] || skip "busybox missing (apt-get install busybox-static)"
	[ -d "$WORK/img" ] || python3 "$MAKE_IMAGE" "$WORK/img" >/dev/null
}

need_qemu() {
	need_tools
	command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 missing"
}

need_registry() {
	need_tools
	command -v docker-registry >/dev/null || skip "docker-registry missing (apt-get install docker-registry)"
	command -v skopeo >/dev/null || skip "skopeo missing (apt-get install skopeo)"
	command -v htpasswd >/dev/null || skip "htpasswd missing (apt-get install apache2-utils)"
}

# A real registry on 127.0.0.1 (Debian's docker-registry), its port in
# $REG_PORT, its output in $WORK/NAME/log. MODE: open (the default),
# auth (an htpasswd login), accesslog (each request logged), or
# tls:CERT:KEY (https with that certificate).
start_registry() {
	local name=$1 mode=${2:-open} scheme=http
	REG_PORT=$(free_port)
	mkdir -p "$WORK/$name"
	{
		printf 'version: 0.1\nlog:\n  level: error\n'
		[ "$mode" != accesslog ] || printf '  accesslog:\n    disabled: false\n'
		printf 'storage:\n  filesystem:\n    rootdirectory: %s\n' "$WORK/$name/data"
		printf 'http:\n  addr: 127.0.0.1:%s\n' "$REG_PORT"
		if [[ $mode == tls:* ]]; then
			local cert=${mode#tls:}
			printf '  tls:\n    certificate: %s\n    key: %s\n' "${cert%%:*}" "${cert#*:}"
			scheme=https
		fi
		if [ "$mode" = auth ]; then
			htpasswd -Bbn tester s3cret >"$WORK/$name/htpasswd" 2>/dev/null
			printf 'auth:\n  htpasswd:\n    realm: hearth-test\n    path: %s\n' "$WORK/$name/htpasswd"
		fi
	} >"$WORK/$name/config.yml"
	docker-registry serve "$WORK/$name/config.yml" >"$WORK/$name/log" 2>&1 &
	REGISTRY_PIDS+=($!)
	wait_for "curl -sk -o /dev/null $scheme://127.0.0.1:$REG_PORT/v2/" 10
}

# skopeo pushes oci:LAYOUT:TAG to the registry as test/app:TAG.
push() {
	skopeo copy -q --dest-tls-verify=false ${3:+--dest-creds "$3"} "oci:$WORK/img/layout:$1" \
		"docker://127.0.0.1:$REG_PORT/test/app:$2" >/dev/null
}

need_docker() {
	need_tools
	command -v docker >/dev/null || skip "docker missing (apt-get install docker.io)"
	docker version >/dev/null 2>&1 || skip "dockerd not running"
}

# An image the local Engine made: `docker import` of a tarball made here.
engine_image() {
	[ -n "${ENGINE_REF:-}" ] && return 0
	mkdir -p "$WORK/imp/bin" "$WORK/imp/www"
	cp /bin/busybox "$WORK/imp/bin/"
	echo "from the Engine" >"$WORK/imp/www/index.html"
	tar -C "$WORK/imp" -cf "$WORK/imp.tar" .
	ENGINE_REF=hearth-test/imported:$$
	docker import --change 'CMD ["/bin/busybox", "httpd", "-f", "-p", "80", "-h", "/www"]' "$WORK/imp.tar" \
		"$ENGINE_REF" >/dev/null
	ENGINE_IMAGES+=("$ENGINE_REF")
}

# The store holds whole entries only: no build or extraction left over.
store_clean() {
	local left
	left=$(ls -A "$STORE/.tmp" 2>/dev/null)
	[ -z "$left" ] || fail "left in the store's .tmp: $left"
}

# The image's layers as the guest sees them, and its config as the workload.
test_oci_layout_qemu() {
	need_qemu
	local port
	port=$(free_port)
	"$HEARTH" run --image "oci:$WORK/img/layout:1" --name web -p "$port:80" --ready http:80/ >/dev/null
	[ "$(curl -s "http://127.0.0.1:$port/")" = "hello from an OCI image" ] || fail "page: upper layer's not served"
	local out
	out=$("$HEARTH" exec web sh -c '
		echo "env=$GREETING"
		[ -e /gone.txt ] && echo "whiteout ignored"
		echo "opaque=$(ls /opaque | tr "\n" " ")"
		echo "suid=$(stat -c %a /suid)"
		echo "owned=$(stat -c %u:%g:%a /home/app/owned)"
		echo "link=$(readlink /link)"
		[ "$(stat -c %i /keep/b)" = "$(stat -c %i /keep/b-hard)" ] && echo hardlink=one
		echo "dev=$(stat -c %F:%t:%T /devs/null)"
		echo "kept=$(cat /keep/a)"')
	for want in "env=hello from the image" "opaque=new.txt " suid=4755 owned=1000:1000:600 link=/www/index.html \
		hardlink=one "dev=character special file:1:3" kept=kept; do
		grep -qx "$want" <<<"$out" || fail "want '$want' in: $out"
	done
	! grep -q "whiteout ignored" <<<"$out" || fail "a file deleted by an upper layer is there"
	# inspect records the reference and the digest; run -f runs the same image.
	"$HEARTH" inspect web >"$WORK/web.json"
	local digest
	digest=$(python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); print(c["image"], c["image_digest"])' "$WORK/web.json")
	[[ $digest == "oci:$WORK/img/layout:1 sha256:"* ]] || fail "inspect: $digest"
	"$HEARTH" rm -f web >/dev/null
	"$HEARTH" run -f "$WORK/web.json" --name web2 >/dev/null
	[ "$(curl -s "http://127.0.0.1:$port/")" = "hello from an OCI image" ] || fail "run -f: no page"
	"$HEARTH" rm -f web2 >/dev/null
}

# User (by name), WorkingDir, Env, and args after -- replacing Cmd.
test_image_config() {
	need_qemu
	"$HEARTH" run --image "oci:$WORK/img/layout:user" --name usr >/dev/null
	wait_for "'$HEARTH' logs usr | grep -q 'exit 0'" 30
	"$HEARTH" logs usr | tr -d '\r' >"$WORK/usr.log"
	grep -q '^1000$' "$WORK/usr.log" && grep -q '^/www$' "$WORK/usr.log" && grep -q '^hello from the image$' "$WORK/usr.log" ||
		fail "user, cwd or env: $(cat "$WORK/usr.log")"
	[ "$(grep -c '^1000$' "$WORK/usr.log")" = 2 ] || fail "gid: $(cat "$WORK/usr.log")"
	"$HEARTH" run --image "oci:$WORK/img/layout:1" --name args -- sh -c 'echo "args: $0 $#"' >/dev/null
	wait_for "'$HEARTH' logs args | grep -q 'exit 0'" 30
	grep -q '^args: sh 0$' <("$HEARTH" logs args | tr -d '\r') || fail "args: $("$HEARTH" logs args)"
	"$HEARTH" inspect args | grep -q '"args": \[' || fail "inspect lacks args"
	"$HEARTH" rm -f usr args >/dev/null
}

# Each local transport runs, and one image is converted once.
test_transports_and_cache() {
	need_qemu
	local t d before after
	for t in "oci-archive:$WORK/img/image.oci.tar:1" "docker-archive:$WORK/img/image.docker.tar" \
		"oci:$WORK/img/layout:multi"; do
		"$HEARTH" run --image "$t" --name tr -- cat /www/index.html >/dev/null || fail "$t: did not run"
		wait_for "'$HEARTH' logs tr | grep -q 'exit 0'" 30
		grep -q '^hello from an OCI image$' <("$HEARTH" logs tr | tr -d '\r') || fail "$t: $("$HEARTH" logs tr)"
		"$HEARTH" rm -f tr >/dev/null
	done
	# The layout's tag 1, its archive and its multi-platform index are one image.
	d=$("$HEARTH" pull "oci:$WORK/img/layout:1")
	before=$(stat -c %i:%Y "$STORE/${d#sha256:}/rootfs.ext4")
	[ "$("$HEARTH" pull "oci-archive:$WORK/img/image.oci.tar:1")" = "$d" ] || fail "archive: another digest"
	after=$(stat -c %i:%Y "$STORE/${d#sha256:}/rootfs.ext4")
	[ "$before" = "$after" ] || fail "converted again: $before -> $after"
	"$HEARTH" images | grep -q "oci:$WORK/img/layout:multi" || fail "images: $("$HEARTH" images)"
	# ExposedPorts are shown, and published only when asked.
	[ "$("$HEARTH" images --json | python3 -c 'import json,sys; print([i["exposed_ports"] for i in json.load(sys.stdin) if i["digest"] == sys.argv[1]][0])' "$d")" = "['80/tcp']" ] ||
		fail "exposed ports: $("$HEARTH" images --json)"
	store_clean
}

# Concurrent pulls of one image convert it once: from a registry whose
# access log shows each layer fetched once (the manifest and config are
# read by each pull: that is how each learns the digest).
test_concurrent_pulls() {
	need_registry
	start_registry conc accesslog
	push user 1
	: >"$WORK/conc/log"
	local i ref=docker://127.0.0.1:$REG_PORT/test/app:1
	local pids=()
	for i in 1 2 3 4; do
		"$HEARTH" pull "$ref" >"$WORK/conc.$i" &
		pids+=($!)
	done
	wait "${pids[@]}"
	[ "$(sort -u "$WORK"/conc.[1-4] | wc -l)" = 1 ] || fail "digests: $(cat "$WORK"/conc.[1-4])"
	[ "$(ls "$STORE" | grep -c "^$(cut -c8- "$WORK/conc.1")")" = 1 ] || fail "store: $(ls "$STORE")"
	local layers
	layers=$(curl -s -H "Accept: application/vnd.oci.image.manifest.v1+json" \
		-H "Accept: application/vnd.docker.distribution.manifest.v2+json" \
		"http://127.0.0.1:$REG_PORT/v2/test/app/manifests/1" |
		python3 -c 'import json,sys; print("\n".join(l["digest"] for l in json.load(sys.stdin)["layers"]))')
	[ -n "$layers" ] || fail "no layers in the registry's manifest"
	local l n
	for l in $layers; do
		n=$(grep -c "GET /v2/test/app/blobs/$l " "$WORK/conc/log" || true)
		[ "$n" = 1 ] || fail "layer $l fetched $n times"
	done
	store_clean
}

# rm refuses an image in use; prune removes what no guest uses.
test_rmi_prune() {
	need_qemu
	local d rc=0
	d=$("$HEARTH" pull "oci:$WORK/img/layout:user")
	"$HEARTH" run --image "oci:$WORK/img/layout:user" --name keep >/dev/null
	"$HEARTH" rmi "oci:$WORK/img/layout:user" 2>"$WORK/err" || rc=$?
	[ $rc = 1 ] && grep -q "is used by 1 guest" "$WORK/err" || fail "rmi in use: exit $rc: $(cat "$WORK/err")"
	[ -d "$STORE/${d#sha256:}" ] || fail "removed while used"
	"$HEARTH" rm -f keep >/dev/null
	"$HEARTH" rmi "${d:7:12}" >/dev/null || fail "rmi by digest prefix"
	[ ! -e "$STORE/${d#sha256:}" ] || fail "still there"
	"$HEARTH" pull "oci:$WORK/img/layout:user" >/dev/null
	"$HEARTH" image prune | grep -q "removed" || fail "prune"
	[ -z "$(ls "$STORE" | grep -v '^\.')" ] || fail "prune left: $(ls "$STORE")"
}

# Bad input: one line naming the image, exit 2 (or 1), nothing left.
test_bad_images() {
	need_tools
	local rc
	cp -a "$WORK/img" "$WORK/bad"
	# A corrupted blob: the first layer's last byte changed.
	local layer
	layer=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1]+"/index.json"))["manifests"][0]["digest"][7:]; print(json.load(open(sys.argv[1]+"/blobs/sha256/"+d))["layers"][0]["digest"][7:])' "$WORK/bad/layout")
	printf 'X' | dd of="$WORK/bad/layout/blobs/sha256/$layer" bs=1 seek=100 conv=notrunc 2>/dev/null
	local cases=(
		"nosuch:/x|unknown transport \"nosuch\""
		"$WORK/img/layout|no transport"
		"oci:$WORK/img/layout:9|no image tagged 9"
		"oci:$WORK/img/layout|holds 4 images"
		"oci:$WORK/nowhere:1|not an OCI image layout"
		"oci:$WORK/img/layout:noplatform|no linux/amd64 image in its index (it has: linux/s390x)"
		"oci:$WORK/bad/layout:1|does not match its digest"
		"docker-archive:$WORK/img/layout/index.json|not a tar archive"
		"docker-archive:$WORK/img/image.oci.tar|not a docker archive (no manifest.json)"
		"docker://127.0.0.1:1/x:Bad*Tag|not a tag"
	)
	local c
	for c in "${cases[@]}"; do
		rc=0
		# A store of its own: this one has the corrupted image's digest.
		HEARTH_STATE_DIR=$WORK/state-bad "$HEARTH" pull "${c%%|*}" 2>"$WORK/err" >/dev/null || rc=$?
		[ $rc != 0 ] || fail "${c%%|*}: accepted"
		[ "$(wc -l <"$WORK/err")" = 1 ] && grep -qF -- "${c#*|}" "$WORK/err" ||
			fail "${c%%|*}: exit $rc: $(cat "$WORK/err")"
	done
	# A stale digest: the configuration names one the reference no longer has.
	rc=0
	echo "{\"image\": \"oci:$WORK/img/layout:1\", \"image_digest\": \"sha256:$(printf '%064d' 0)\"}" >"$WORK/stale.json"
	"$HEARTH" run -f "$WORK/stale.json" --name stale 2>"$WORK/err" || rc=$?
	[ $rc = 2 ] && grep -q "image_digest: .* now resolves to sha256:" "$WORK/err" || fail "stale: $(cat "$WORK/err")"
	[ ! -e "$HEARTH_STATE_DIR/vms/stale" ] || fail "stale: a guest was made"
	rc=0
	"$HEARTH" run --image "oci:$WORK/img/layout:1" --rootfs "$GUEST/hello.ext4" 2>"$WORK/err" || rc=$?
	[ $rc = 2 ] && grep -q "two root filesystems" "$WORK/err" || fail "both: $(cat "$WORK/err")"
	rc=0
	"$HEARTH" run --backend microvm-nix --image "oci:$WORK/img/layout:1" 2>"$WORK/err" || rc=$?
	[ $rc = 2 ] && grep -q "image: .*runner" "$WORK/err" || fail "microvm-nix: exit $rc: $(cat "$WORK/err")"
	rc=0
	"$HEARTH" run --image "oci:$WORK/img/layout:1" --tls-verify=maybe 2>"$WORK/err" || rc=$?
	[ $rc = 2 ] && grep -q "tls-verify: want true or false (maybe)" "$WORK/err" || fail "tls-verify: $(cat "$WORK/err")"
	rc=0
	"$HEARTH" run --rootfs "$GUEST/hello.ext4" -- echo 2>"$WORK/err" || rc=$?
	[ $rc = 2 ] && grep -q "unexpected argument" "$WORK/err" || fail "args without image: $(cat "$WORK/err")"
	STORE=$WORK/state-bad/images store_clean
	[ -z "$(ls "$WORK/state-bad/images")" ] || fail "half-made entries: $(ls "$WORK/state-bad/images")"
}

# Disk full while unpacking, and while making the ext4: one error each,
# nothing left in the store (a small tmpfs as the state root).
test_disk_full() {
	need_tools
	[ "$(id -u)" = 0 ] || skip "mounting a small tmpfs needs root"
	local size rc full=$WORK/full
	for size in 1m 3m; do
		mkdir -p "$full"
		mount -t tmpfs -o "size=$size" tmpfs "$full"
		rc=0
		HEARTH_STATE_DIR=$full/state "$HEARTH" pull "oci:$WORK/img/layout:1" 2>"$WORK/err" >/dev/null || rc=$?
		local left
		left=$(find "$full/state/images" -mindepth 1 -not -name .tmp)
		umount "$full"
		[ $rc = 1 ] && [ "$(wc -l <"$WORK/err")" = 1 ] && grep -q "No space left on device" "$WORK/err" ||
			fail "$size: exit $rc: $(cat "$WORK/err")"
		[ -z "$left" ] || fail "$size: left: $left"
	done
}

# A hostile layer writes nothing outside the image: a symlink it made to
# / or /tmp is followed inside the image, ".." and hard links up are refused.
test_hostile_layers() {
	need_tools
	rm -f /tmp/hearth-escaped-*
	local h rc host_before
	host_before=$(ls -d /config /secrets 2>/dev/null || true)
	python3 "$MAKE_IMAGE" "$WORK/h-link" /bin/busybox hostile-link >/dev/null
	local d
	d=$("$HEARTH" pull "oci:$WORK/h-link/layout:1") || fail "link image refused"
	debugfs -R "ls /tmp" "$STORE/${d#sha256:}/rootfs.ext4" 2>/dev/null | grep -q hearth-escaped-through-link ||
		fail "the linked write is not inside the image"
	[ "$(ls -d /config /secrets 2>/dev/null || true)" = "$host_before" ] || fail "mount points made on the host"
	debugfs -R "stat /mnt" "$STORE/${d#sha256:}/rootfs.ext4" 2>/dev/null | grep -q "Type: symlink" ||
		fail "the image's own mnt link was not kept"
	for h in dotdot hardlink; do
		python3 "$MAKE_IMAGE" "$WORK/h-$h" /bin/busybox "hostile-$h" >/dev/null
		rc=0
		"$HEARTH" pull "oci:$WORK/h-$h/layout:1" 2>"$WORK/err" >/dev/null || rc=$?
		[ $rc = 2 ] && grep -qE "outside the image|refused name" "$WORK/err" || fail "$h: exit $rc: $(cat "$WORK/err")"
	done
	[ -z "$(ls /tmp/hearth-escaped-* "$WORK"/hearth-escaped-* 2>/dev/null)" ] || fail "escaped: $(ls /tmp/hearth-escaped-*)"
	store_clean
}

# A layer that would swamp the host is bounded: a sparse file of 100 GiB
# stays a hole in the ext4 (seconds, a few MB); 2^20 + 1 entries are
# refused at the cap, in seconds, leaving nothing.
test_layer_bombs() {
	need_tools
	command -v tar >/dev/null || skip "tar missing"
	local d t0 rc=0
	python3 "$MAKE_IMAGE" "$WORK/h-sparse" /bin/busybox hostile-sparse >/dev/null
	t0=$(date +%s)
	d=$("$HEARTH" pull "oci:$WORK/h-sparse/layout:1") || fail "sparse image refused"
	local img=$STORE/${d#sha256:}/rootfs.ext4
	[ "$(debugfs -R "stat /huge" "$img" 2>/dev/null | sed -n 's/.*Size: \([0-9]*\).*/\1/p' | head -n 1)" = 107374182400 ] ||
		fail "the sparse file: $(debugfs -R "stat /huge" "$img" 2>/dev/null | head -n 5)"
	[ "$(du -k "$img" | cut -f1)" -lt 65536 ] || fail "the image takes $(du -k "$img" | cut -f1) KiB"
	[ $(($(date +%s) - t0)) -lt 30 ] || fail "took $(($(date +%s) - t0)) s"
	"$HEARTH" rmi "$d" >/dev/null
	python3 "$MAKE_IMAGE" "$WORK/h-bomb" /bin/busybox hostile-bomb >/dev/null
	t0=$(date +%s)
	"$HEARTH" pull "oci:$WORK/h-bomb/layout:1" 2>"$WORK/err" >/dev/null || rc=$?
	[ $rc = 2 ] && grep -q "has more than 1048576 entries" "$WORK/err" || fail "bomb: exit $rc: $(cat "$WORK/err")"
	[ $(($(date +%s) - t0)) -lt 120 ] || fail "bomb took $(($(date +%s) - t0)) s"
	rm -rf "$WORK/h-bomb" "$WORK/h-sparse"
	store_clean
}

# From a registry: by tag and by digest, with a page served through -p;
# with a login from REGISTRY_AUTH_FILE; errors for each way it can fail.
test_registry() {
	need_registry
	need_qemu
	start_registry reg
	push 1 1
	local port d rc
	port=$(free_port)
	"$HEARTH" run --image "docker://127.0.0.1:$REG_PORT/test/app:1" --name reg1 -p "$port:80" --ready http:80/ >/dev/null
	[ "$(curl -s "http://127.0.0.1:$port/")" = "hello from an OCI image" ] || fail "by tag: no page"
	d=$("$HEARTH" inspect reg1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["image_digest"])')
	"$HEARTH" rm -f reg1 >/dev/null
	"$HEARTH" rmi "$d" >/dev/null
	"$HEARTH" run --image "docker://127.0.0.1:$REG_PORT/test/app@$d" --name reg2 -p "$port:80" --ready http:80/ >/dev/null
	[ "$(curl -s "http://127.0.0.1:$port/")" = "hello from an OCI image" ] || fail "by digest: no page"
	"$HEARTH" rm -f reg2 >/dev/null
	# The tag moves; a configuration that recorded the digest runs the old
	# image, fetched by its digest.
	push user 1
	[ "$("$HEARTH" pull "docker://127.0.0.1:$REG_PORT/test/app:1")" != "$d" ] || fail "the moved tag resolved to the old digest"
	# The tag names the new image only, as Docker's tags do.
	[ "$("$HEARTH" images --json | grep -c "docker://127.0.0.1:$REG_PORT/test/app:1\"")" = 1 ] ||
		fail "the moved tag names two images: $("$HEARTH" images)"
	"$HEARTH" rmi "$d" >/dev/null
	printf '{"image": "docker://127.0.0.1:%s/test/app:1", "image_digest": "%s", "ports": [{"host": %s, "guest": 80}], "ready": "http:80/"}' \
		"$REG_PORT" "$d" "$port" >"$WORK/pinned.json"
	"$HEARTH" run -f "$WORK/pinned.json" --name reg3 >/dev/null
	[ "$(curl -s "http://127.0.0.1:$port/")" = "hello from an OCI image" ] || fail "pinned: not the old image"
	"$HEARTH" rm -f reg3 >/dev/null
	local cases=(
		"docker://127.0.0.1:$REG_PORT/test/app:nosuch|no such tag in the registry"
		"docker://127.0.0.1:$REG_PORT/test/nothing:1|no such tag in the registry"
		"docker://127.0.0.1:$REG_PORT/test/app@sha256:$(printf '%064d' 0)|no such manifest digest"
		"docker://127.0.0.1:$(free_port)/test/app:1|cannot reach the registry"
	)
	local c
	for c in "${cases[@]}"; do
		rc=0
		"$HEARTH" pull "${c%%|*}" 2>"$WORK/err" >/dev/null || rc=$?
		[ $rc != 0 ] && [ "$(wc -l <"$WORK/err")" = 1 ] && grep -qF -- "${c#*|}" "$WORK/err" ||
			fail "${c%%|*}: exit $rc: $(cat "$WORK/err")"
	done
	store_clean
}

test_registry_login() {
	need_registry
	start_registry login auth
	push user user tester:s3cret
	local rc=0 ref
	ref="docker://127.0.0.1:$REG_PORT/test/app:user"
	REGISTRY_AUTH_FILE=$WORK/none.json "$HEARTH" pull "$ref" 2>"$WORK/err" >/dev/null || rc=$?
	[ $rc = 2 ] && grep -q "asks for a login (none for 127.0.0.1:$REG_PORT" "$WORK/err" || fail "no login: $(cat "$WORK/err")"
	printf '{"auths": {"127.0.0.1:%s": {"auth": "%s"}}}' "$REG_PORT" "$(printf tester:wrong | base64)" >"$WORK/bad.json"
	rc=0
	REGISTRY_AUTH_FILE=$WORK/bad.json "$HEARTH" pull "$ref" 2>"$WORK/err" >/dev/null || rc=$?
	[ $rc = 2 ] && grep -q "refused the login" "$WORK/err" || fail "bad login: $(cat "$WORK/err")"
	! grep -q wrong "$WORK/err" || fail "the password reached the message"
	printf '{"auths": {"http://127.0.0.1:%s": {"auth": "%s"}}}' "$REG_PORT" "$(printf tester:s3cret | base64)" >"$WORK/good.json"
	REGISTRY_AUTH_FILE=$WORK/good.json "$HEARTH" pull "$ref" >/dev/null || fail "good login refused"
	store_clean
}

# Pull progress: per layer, in bytes, on a terminal; nothing when stderr
# is not one (a slow proxy in front of the registry makes the pull last).
test_pull_progress() {
	need_registry
	python3 - <<'EOF2' || skip "python3 without asyncio"
import asyncio
EOF2
	[ -d "$WORK/bulk" ] || BULK_MB=12 python3 "$MAKE_IMAGE" "$WORK/bulk" >/dev/null
	start_registry prog
	skopeo copy -q --dest-tls-verify=false "oci:$WORK/bulk/layout:1" "docker://127.0.0.1:$REG_PORT/test/bulk:1" >/dev/null
	local pport
	pport=$(free_port)
	python3 "$(dirname "$MAKE_IMAGE")/slow-proxy.py" "$pport" "$REG_PORT" 4000000 &
	REGISTRY_PIDS+=($!)
	wait_for "curl -s -o /dev/null http://127.0.0.1:$pport/v2/" 10
	local ref=docker://127.0.0.1:$pport/test/bulk:1
	# Not a terminal: not a byte on stderr.
	HEARTH_STATE_DIR=$WORK/prog-a "$HEARTH" pull "$ref" >/dev/null 2>"$WORK/prog.err" || fail "pull: $(cat "$WORK/prog.err")"
	[ ! -s "$WORK/prog.err" ] || fail "progress without a terminal: $(cat -A "$WORK/prog.err")"
	# A terminal: the layer's line, redrawn, in MB, ended by a newline.
	HEARTH_STATE_DIR=$WORK/prog-b python3 - "$HEARTH" "$ref" >"$WORK/prog.tty" <<'EOF2' || fail "pull on a terminal: $(cat -A "$WORK/prog.tty")"
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "pull", sys.argv[2]])
out = b""
while True:
    try:
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    out += data
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
sys.exit(0 if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 else 1)
EOF2
	grep -q $'\r\e\[Khearth: pull sha256:[0-9a-f]*: [0-9.]* of 12\.[0-9] MB' "$WORK/prog.tty" ||
		fail "no progress line: $(cat -A "$WORK/prog.tty" | head -c 600)"
	grep -q '(100%)' "$WORK/prog.tty" || fail "no end: $(cat -A "$WORK/prog.tty" | tail -c 300)"
	rm -rf "$WORK/prog-a" "$WORK/prog-b"
}

# TLS: a registry with a certificate nobody trusts, at an address in a
# network namespace of the test's own: refused unless --tls-verify=false;
# on loopback, as Docker does, taken without checking.
test_registry_tls() {
	need_registry
	[ "$(id -u)" = 0 ] || skip "a network namespace needs root"
	command -v openssl >/dev/null || skip "openssl missing"
	local d=$WORK/tls ns=hearth-img$$ rc=0 port
	mkdir -p "$d"
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/key.pem" -out "$d/cert.pem" -days 1 \
		-subj /CN=hearth-test-registry -addext "subjectAltName=IP:192.0.2.1,IP:127.0.0.1" 2>/dev/null
	ip netns add "$ns"
	ip netns exec "$ns" ip link set lo up
	ip netns exec "$ns" ip addr add 192.0.2.1/32 dev lo
	port=$(free_port)
	printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 192.0.2.1:%s\n  tls:\n    certificate: %s\n    key: %s\n' \
		"$d/data" "$port" "$d/cert.pem" "$d/key.pem" >"$d/ns.yml"
	ip netns exec "$ns" docker-registry serve "$d/ns.yml" >"$d/ns.log" 2>&1 &
	local pid=$!
	local ref=docker://192.0.2.1:$port/test/app:1
	wait_for "ip netns exec $ns curl -sk -o /dev/null https://192.0.2.1:$port/v2/" 10
	ip netns exec "$ns" skopeo copy -q --dest-tls-verify=false "oci:$WORK/img/layout:1" "${ref}" >/dev/null
	ip netns exec "$ns" env HEARTH_STATE_DIR="$d/state" "$HEARTH" pull "$ref" 2>"$WORK/err" >/dev/null || rc=$?
	local ok=1
	[ $rc = 1 ] && grep -q "TLS certificate is not trusted" "$WORK/err" || ok=0
	ip netns exec "$ns" env HEARTH_STATE_DIR="$d/state" "$HEARTH" pull --tls-verify=false "$ref" >/dev/null || ok=2
	kill $pid
	wait $pid 2>/dev/null || true
	ip netns del "$ns"
	[ $ok != 0 ] || fail "untrusted certificate: exit $rc: $(cat "$WORK/err")"
	[ $ok != 2 ] || fail "--tls-verify=false did not reach it"
	# On loopback: TLS taken unchecked, without being asked.
	start_registry tlsloop "tls:$d/cert.pem:$d/key.pem"
	skopeo copy -q --dest-tls-verify=false "oci:$WORK/img/layout:1" "docker://127.0.0.1:$REG_PORT/test/app:1" >/dev/null
	HEARTH_STATE_DIR=$d/state2 "$HEARTH" pull "docker://127.0.0.1:$REG_PORT/test/app:1" >/dev/null ||
		fail "a TLS registry on loopback: $(tail -n 3 "$WORK/tlsloop/log")"
}

# Bearer login: a real registry in token mode, and a token server of the
# tests' own (tests/images/token-server.py) whose tokens it verifies.
test_registry_token() {
	need_registry
	command -v openssl >/dev/null || skip "openssl missing"
	local d=$WORK/tok tport
	mkdir -p "$d"
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/key.pem" -out "$d/cert.pem" -days 1 \
		-subj /CN=hearth-test-tokens 2>/dev/null
	tport=$(free_port)
	python3 "$(dirname "$MAKE_IMAGE")/token-server.py" "$tport" "$d/key.pem" "$d/cert.pem" hearth-test \
		hearth-test-issuer tester:s3cret "$d/requests" &
	REGISTRY_PIDS+=($!)
	REG_PORT=$(free_port)
	printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
		"$d/data" "$REG_PORT" >"$d/config.yml"
	printf 'auth:\n  token:\n    realm: http://127.0.0.1:%s/token\n    service: hearth-test\n    issuer: hearth-test-issuer\n    rootcertbundle: %s\n' \
		"$tport" "$d/cert.pem" >>"$d/config.yml"
	docker-registry serve "$d/config.yml" >"$d/log" 2>&1 &
	REGISTRY_PIDS+=($!)
	wait_for "curl -s -o /dev/null http://127.0.0.1:$REG_PORT/v2/ && curl -s -o /dev/null http://127.0.0.1:$tport/token" 10
	push 1 1 tester:s3cret
	skopeo copy -q --dest-tls-verify=false --dest-creds tester:s3cret "oci:$WORK/img/layout:1" \
		"docker://127.0.0.1:$REG_PORT/public/app:1" >/dev/null
	: >"$d/requests"
	local s=$WORK/tok-state rc
	# Anonymous: a token for a public repository, the layers fetched with it.
	HEARTH_STATE_DIR=$s REGISTRY_AUTH_FILE=$d/none.json "$HEARTH" pull "docker://127.0.0.1:$REG_PORT/public/app:1" >/dev/null ||
		fail "anonymous pull of a public image"
	grep -q '"auth": ""' "$d/requests" || fail "no anonymous token request: $(cat "$d/requests")"
	rc=0
	HEARTH_STATE_DIR=$s REGISTRY_AUTH_FILE=$d/none.json "$HEARTH" pull "docker://127.0.0.1:$REG_PORT/test/app:1" \
		2>"$WORK/err" >/dev/null || rc=$?
	[ $rc = 2 ] && grep -q "refused anonymous access (no login for 127.0.0.1:$REG_PORT" "$WORK/err" ||
		fail "private, anonymous: exit $rc: $(cat "$WORK/err")"
	printf '{"auths": {"127.0.0.1:%s": {"auth": "%s"}}}' "$REG_PORT" "$(printf tester:wrong | base64)" >"$d/bad.json"
	rc=0
	HEARTH_STATE_DIR=$s REGISTRY_AUTH_FILE=$d/bad.json "$HEARTH" pull "docker://127.0.0.1:$REG_PORT/test/app:1" \
		2>"$WORK/err" >/dev/null || rc=$?
	[ $rc = 2 ] && grep -q "refused the login for 127.0.0.1:$REG_PORT" "$WORK/err" && ! grep -q wrong "$WORK/err" ||
		fail "wrong login: exit $rc: $(cat "$WORK/err")"
	printf '{"auths": {"127.0.0.1:%s": {"auth": "%s"}}}' "$REG_PORT" "$(printf tester:s3cret | base64)" >"$d/good.json"
	rm -rf "$s"
	: >"$d/requests"
	HEARTH_STATE_DIR=$s REGISTRY_AUTH_FILE=$d/good.json "$HEARTH" pull "docker://127.0.0.1:$REG_PORT/test/app:1" >/dev/null ||
		fail "login: $(tail -n 3 "$d/log")"
	grep -q '"auth": "Basic"' "$d/requests" && grep -q 'repository:test/app:pull' "$d/requests" ||
		fail "no token for the login: $(cat "$d/requests")"
	rm -rf "$s"
}

# --rootfs-mode persistent: a disk of the guest's own, kept across stop
# and hearth start; ephemeral (the default): writes gone at the next start.
persistence() {
	local backend=$1 port mode code
	port=$(free_port)
	for mode in persistent ephemeral; do
		"$HEARTH" run --backend "$backend" --image "oci:$WORK/img/layout:1" --rootfs-mode "$mode" --name "keep-$mode" \
			-p "$port:80" --ready http:80/ >/dev/null
		"$HEARTH" exec "keep-$mode" sh -c 'echo written > /www/state.txt'
		"$HEARTH" stop "keep-$mode" >/dev/null
		[ "$(status_field "keep-$mode" status)" = stopped ] || fail "$mode: not stopped"
		"$HEARTH" start "keep-$mode" >/dev/null
		[ "$(status_field "keep-$mode" status)" = running ] || fail "$mode: not running after start"
		code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/state.txt")
		if [ "$mode" = persistent ]; then
			[ "$code" = 200 ] && [ "$(curl -s "http://127.0.0.1:$port/state.txt")" = written ] || fail "persistent: $code"
		else
			[ "$code" = 404 ] || fail "ephemeral: the write survived ($code)"
		fi
		local rc=0
		"$HEARTH" start "keep-$mode" 2>"$WORK/err" >/dev/null || rc=$?
		[ $rc = 1 ] && grep -q "is running already" "$WORK/err" || fail "start twice: exit $rc: $(cat "$WORK/err")"
		"$HEARTH" rm -f "keep-$mode" >/dev/null
	done
	local rc=0
	"$HEARTH" start nosuch 2>"$WORK/err" >/dev/null || rc=$?
	[ $rc = 1 ] && grep -q "no such guest" "$WORK/err" || fail "nosuch: exit $rc: $(cat "$WORK/err")"
	rc=0
	"$HEARTH" run --rootfs-mode sometimes --image "oci:$WORK/img/layout:1" 2>"$WORK/err" >/dev/null || rc=$?
	[ $rc = 2 ] && grep -q "rootfs_mode: want ephemeral or persistent (sometimes)" "$WORK/err" || fail "bad mode: $(cat "$WORK/err")"
}

test_persistent_qemu() {
	need_qemu
	persistence qemu
	[ -z "$(ls "$HEARTH_STATE_DIR/vms")" ] || fail "left: $(ls "$HEARTH_STATE_DIR/vms")"
}

test_persistent_docker() {
	need_docker
	persistence docker
}

# docker-daemon: on a VM backend, the Engine's image exported and converted.
test_docker_daemon_qemu() {
	need_docker
	need_qemu
	engine_image
	local port rc=0
	port=$(free_port)
	"$HEARTH" run --image "docker-daemon:$ENGINE_REF" --name dd -p "$port:80" --ready http:80/ >/dev/null
	[ "$(curl -s "http://127.0.0.1:$port/")" = "from the Engine" ] || fail "no page"
	"$HEARTH" rm -f dd >/dev/null
	"$HEARTH" pull "docker-daemon:hearth-test/nosuch:$$" 2>"$WORK/err" >/dev/null || rc=$?
	[ $rc = 1 ] && grep -q "no such image in the Docker Engine" "$WORK/err" || fail "nosuch: $(cat "$WORK/err")"
	store_clean
}

# The docker backend runs every transport's image itself: no conversion
# into the store, the same contract (layers, env, user, cwd, config files).
# An image guest on apple-container (against the double of Apple's
# `container`, tests/apple): the image converted to ext4 in the store,
# that made a one-layer OCI archive the tool loads, hearth-init from the
# image's root as the entrypoint, the image's user, dir and env for the
# workload.
test_apple_container_image() {
	need_docker
	export CONTAINER_DOUBLE_ROOT=$WORK/double
	mkdir -p "$CONTAINER_DOUBLE_ROOT"
	PATH=$(cd "$(dirname "$0")/../apple" && pwd):$PATH # each test runs in a subshell of its own
	container system start >/dev/null
	local port out d
	port=$(free_port)
	"$HEARTH" run --backend apple-container --image "oci:$WORK/img/layout:1" --name ac -p "$port:80" --ready http:80/ \
		--config-file note=/etc/hostname >/dev/null || fail "did not run"
	[ "$(curl -s "http://127.0.0.1:$port/")" = "hello from an OCI image" ] || fail "page"
	out=$("$HEARTH" exec ac sh -c 'echo "$GREETING|$(pwd)|$(id -u)|$(cat /mnt/config/note)"')
	[ "$out" = "hello from the image|/|0|$(cat /etc/hostname)" ] || fail "exec: $out"
	"$HEARTH" exec ac sh -c '[ ! -e /gone.txt ] && [ "$(ls /opaque)" = new.txt ]' || fail "layers"
	"$HEARTH" rm -f ac >/dev/null
	"$HEARTH" run --backend apple-container --image "oci:$WORK/img/layout:user" --name acu >/dev/null
	wait_for "'$HEARTH' logs acu | grep -q 'exit 0'" 20
	[ "$("$HEARTH" logs acu | grep -v hearth-init | tr '\n' ' ')" = "1000 1000 /www hello from the image " ] ||
		fail "user image: $("$HEARTH" logs acu)"
	"$HEARTH" rm -f acu >/dev/null
	for d in $(container image list); do
		ENGINE_IMAGES+=("$d")
	done
	[ ! -s "$CONTAINER_DOUBLE_ROOT/usage-errors.log" ] || fail "sent what the CLI rejects: $(cat "$CONTAINER_DOUBLE_ROOT/usage-errors.log")"
}

test_docker_backend() {
	need_docker
	need_registry
	engine_image
	start_registry dreg
	push 1 1
	local port t d want out
	port=$(free_port)
	local before
	before=$(ls "$STORE" 2>/dev/null | grep -v '^\.' | sort | tr '\n' ' ')
	for t in "oci:$WORK/img/layout:1" "oci-archive:$WORK/img/image.oci.tar:1" "docker-archive:$WORK/img/image.docker.tar" \
		"docker://127.0.0.1:$REG_PORT/test/app:1" "docker-daemon:$ENGINE_REF"; do
		want="hello from an OCI image"
		[[ $t != docker-daemon:* ]] || want="from the Engine"
		"$HEARTH" run --backend docker --image "$t" --name dk -p "$port:80" --ready http:80/ \
			--config-file note=/etc/hostname >/dev/null || fail "$t: did not run"
		d=$("$HEARTH" inspect dk | python3 -c 'import json,sys; print(json.load(sys.stdin)["image_digest"])')
		ENGINE_IMAGES+=("hearth-image:${d#sha256:}")
		[ "$(curl -s "http://127.0.0.1:$port/")" = "$want" ] || fail "$t: page"
		if [[ $t != docker-daemon:* ]]; then
			out=$("$HEARTH" exec dk sh -c 'echo "$GREETING|$(pwd)|$(id -u)|$(cat /mnt/config/note)"')
			[ "$out" = "hello from the image|/|0|$(cat /etc/hostname)" ] || fail "$t: exec: $out"
			"$HEARTH" exec dk sh -c '[ ! -e /gone.txt ] && [ "$(ls /opaque)" = new.txt ]' || fail "$t: layers"
		fi
		"$HEARTH" rm -f dk >/dev/null
	done
	[ "$(ls "$STORE" 2>/dev/null | grep -v '^\.' | sort | tr '\n' ' ')" = "$before" ] || fail "converted into the store"
	# User, WorkingDir and Env of the image, for a workload that ends at once.
	"$HEARTH" run --backend docker --image "oci:$WORK/img/layout:user" --name du >/dev/null
	d=$("$HEARTH" inspect du | python3 -c 'import json,sys; print(json.load(sys.stdin)["image_digest"])')
	ENGINE_IMAGES+=("hearth-image:${d#sha256:}")
	wait_for "'$HEARTH' logs du | grep -q 'exit 0'" 20
	[ "$("$HEARTH" logs du | grep -v hearth-init | tr '\n' ' ')" = "1000 1000 /www hello from the image " ] ||
		fail "user image: $("$HEARTH" logs du)"
	"$HEARTH" rm -f du >/dev/null
}

# No leak in the image CLI paths (valgrind), cold and warm, and errors.
test_valgrind_image_paths() {
	need_registry
	need_qemu
	command -v valgrind >/dev/null || skip "valgrind missing"
	local vg="valgrind -q --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect --error-exitcode=9 --child-silent-after-fork=yes"
	local s=$WORK/vg-state
	start_registry vgreg auth
	push 1 1 tester:s3cret
	printf '{"auths": {"127.0.0.1:%s": {"auth": "%s"}}}' "$REG_PORT" "$(printf tester:s3cret | base64)" >"$WORK/vg.json"
	export REGISTRY_AUTH_FILE=$WORK/vg.json
	HEARTH_STATE_DIR=$s $vg "$HEARTH" pull "docker://127.0.0.1:$REG_PORT/test/app:1" >/dev/null || fail "pull: valgrind exit $?"
	HEARTH_STATE_DIR=$s $vg "$HEARTH" pull "oci-archive:$WORK/img/image.oci.tar:1" >/dev/null || fail "archive: valgrind exit $?"
	HEARTH_STATE_DIR=$s $vg "$HEARTH" run --image "oci:$WORK/img/layout:user" --name vgi >/dev/null || fail "run: valgrind exit $?"
	HEARTH_STATE_DIR=$s $vg "$HEARTH" images --json >/dev/null || fail "images: valgrind exit $?"
	local rc=0
	HEARTH_STATE_DIR=$s $vg "$HEARTH" pull "oci:$WORK/img/layout:9" 2>/dev/null || rc=$?
	[ $rc = 2 ] || fail "no such tag: valgrind exit $rc"
	HEARTH_STATE_DIR=$s $vg "$HEARTH" rm -f vgi >/dev/null || fail "rm: valgrind exit $?"
	# Valgrind knows no openat2: this is the walk that stands in for it
	# (older kernels), on links made to / and /tmp.
	[ -d "$WORK/h-link" ] || python3 "$MAKE_IMAGE" "$WORK/h-link" /bin/busybox hostile-link >/dev/null
	local d
	d=$(HEARTH_STATE_DIR=$s $vg "$HEARTH" pull "oci:$WORK/h-link/layout:1") || fail "links: valgrind exit $?"
	debugfs -R "ls /tmp" "$s/images/${d#sha256:}/rootfs.ext4" 2>/dev/null | grep -q hearth-escaped-through-abs ||
		fail "the walk did not keep the write inside the image"
	[ -z "$(ls /tmp/hearth-escaped-* 2>/dev/null)" ] || fail "escaped: $(ls /tmp/hearth-escaped-*)"
	HEARTH_STATE_DIR=$s $vg "$HEARTH" image prune >/dev/null || fail "prune: valgrind exit $?"
	unset REGISTRY_AUTH_FILE
	rm -rf "$s"
}

# libcurl, libarchive and libcrypto are opened by what uses them: a
# listing loads none of them, a pull loads what it needs, and a pull
# whose library cannot be loaded says which, on one line, leaving nothing.
test_libraries_on_demand() {
	need_tools
	local loaded rc=0
	"$HEARTH" image prune >/dev/null # so that the pulls below convert
	loaded=$(LD_DEBUG=files "$HEARTH" ps -a 2>&1 >/dev/null | grep -oE 'file=lib(curl|archive|crypto)[^ ]*' | sort -u)
	[ -z "$loaded" ] || fail "hearth ps loaded: $loaded"
	loaded=$(LD_DEBUG=files "$HEARTH" pull "oci:$WORK/img/layout:1" 2>&1 >/dev/null |
		grep -oE 'file=lib(archive|crypto)[^ ]*' | sort -u | tr '\n' ' ')
	[[ $loaded == *libarchive* && $loaded == *libcrypto* ]] || fail "pull loaded: '$loaded'"
	"$HEARTH" image rm "oci:$WORK/img/layout:1" >/dev/null
	local before
	before=$("$HEARTH" image ls --json)
	mkdir -p "$WORK/badlib"
	: >"$WORK/badlib/libarchive.so.13"
	LD_LIBRARY_PATH=$WORK/badlib "$HEARTH" pull "oci:$WORK/img/layout:1" >/dev/null 2>"$WORK/err" || rc=$?
	[ $rc != 0 ] && [ "$(wc -l <"$WORK/err")" = 1 ] && grep -q "cannot load libarchive.so.13" "$WORK/err" ||
		fail "broken libarchive: rc $rc: $(cat "$WORK/err")"
	[ "$("$HEARTH" image ls --json)" = "$before" ] || fail "the failed pull changed the store: $("$HEARTH" image ls)"
	store_clean
}

t test_oci_layout_qemu
t test_image_config
t test_transports_and_cache
t test_concurrent_pulls
t test_rmi_prune
t test_bad_images
t test_hostile_layers
t test_layer_bombs
t test_disk_full
t test_libraries_on_demand
t test_registry
t test_registry_login
t test_persistent_qemu
t test_persistent_docker
t test_registry_token
t test_registry_tls
t test_pull_progress
t test_docker_daemon_qemu
t test_docker_backend
t test_apple_container_image
[ -n "${HEARTH_SANITIZED:-}" ] || t test_valgrind_image_paths
report
