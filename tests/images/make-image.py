#!/usr/bin/env python3
"""Builds the OCI test images from busybox-static, with no network: an
OCI layout (tags "1", "user", "noplatform", "corrupt" made on demand), an
oci-archive of it and a docker-archive (`docker save` format).

Layers: 1 (plain tar) busybox, /etc/passwd with user app (1000), /www,
/gone.txt, /opaque/old.txt; 2 (gzip) a whiteout of /gone.txt, an opaque
/opaque with new.txt, an absolute symlink, a hard link, a setuid file, a
device node, a file owned by 1000; 3 (zstd when the zstd tool exists,
else gzip) a page that replaces the base one.

With BULK_MB=N in the environment a fourth layer adds N MB of random
bytes (the benchmarks' image, gzip only), and /sbin/init pointing at hearth-init's
reserved path with an /etc/hearth/start, so the converted rootfs also
boots as a plain --rootfs.

usage: make-image.py OUT_DIR [BUSYBOX] [hostile-link|hostile-dotdot|hostile-hardlink|hostile-sparse|hostile-bomb]
A hostile image's second layer tries to write outside the image: through
a symlink to / that it made itself, by "..", or by a hard link up out;
or to swamp the host: a sparse file of 100 GiB (GNU tar's sparse
format, one block of data), or 2^20 + 1 entries (whiteouts of nothing).
"""
import gzip, hashlib, io, json, os, shutil, subprocess, sys, tarfile

out = sys.argv[1]
busybox = sys.argv[2] if len(sys.argv) > 2 else "/bin/busybox"
hostile = sys.argv[3] if len(sys.argv) > 3 else None


def entry(tar, name, data=None, mode=0o644, uid=0, gid=0, type=tarfile.REGTYPE, link="", dev=(0, 0)):
    ti = tarfile.TarInfo(name)
    ti.mode, ti.uid, ti.gid, ti.type, ti.linkname = mode, uid, gid, type, link
    ti.devmajor, ti.devminor = dev
    ti.mtime = 1700000000
    if data is not None:
        ti.size = len(data)
        tar.addfile(ti, io.BytesIO(data))
    else:
        tar.addfile(ti)


def layer(build):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        build(tar)
    return buf.getvalue()


def base(tar):
    for d in ["bin", "etc", "www", "opaque", "keep", "home", "home/app", "devs"]:
        entry(tar, d, mode=0o755, type=tarfile.DIRTYPE)
    with open(busybox, "rb") as f:
        entry(tar, "bin/busybox", f.read(), mode=0o755)
    for applet in ["sh", "ls", "cat", "stat", "id", "readlink", "httpd", "echo", "pwd", "sleep", "wc", "env"]:
        entry(tar, "bin/" + applet, type=tarfile.SYMTYPE, link="busybox")
    entry(tar, "etc/passwd", b"root:x:0:0:root:/root:/bin/sh\napp::1000:1000:app:/home/app:/bin/sh\n")
    entry(tar, "etc/group", b"root:x:0:\napp:x:1000:\n")
    entry(tar, "www/index.html", b"base page\n")
    entry(tar, "gone.txt", b"deleted by layer 2\n")
    entry(tar, "opaque/old.txt", b"hidden by the opaque marker\n")
    entry(tar, "keep/a", b"kept\n")


def changes(tar):
    entry(tar, ".wh.gone.txt", b"")
    entry(tar, "opaque", mode=0o755, type=tarfile.DIRTYPE)
    entry(tar, "opaque/.wh..wh..opq", b"")
    entry(tar, "opaque/new.txt", b"new\n")
    entry(tar, "link", type=tarfile.SYMTYPE, link="/www/index.html")
    entry(tar, "keep/b", b"linked twice\n")
    entry(tar, "keep/b-hard", type=tarfile.LNKTYPE, link="keep/b")
    entry(tar, "suid", b"#!/bin/sh\n", mode=0o4755)
    entry(tar, "devs/null", type=tarfile.CHRTYPE, mode=0o666, dev=(1, 3))
    entry(tar, "home/app/owned", b"mine\n", uid=1000, gid=1000, mode=0o600)


def page(tar):
    entry(tar, "www/index.html", b"hello from an OCI image\n")


def bulk(tar):
    entry(tar, "sbin", mode=0o755, type=tarfile.DIRTYPE)
    entry(tar, "sbin/init", type=tarfile.SYMTYPE, link="/.hearth/init")
    entry(tar, "etc/hearth", mode=0o755, type=tarfile.DIRTYPE)
    entry(tar, "etc/hearth/start", b"#!/bin/sh\nexec /bin/busybox httpd -f -p 80 -h /www\n", mode=0o755)
    entry(tar, "bulk", mode=0o755, type=tarfile.DIRTYPE)
    entry(tar, "bulk/data", os.urandom(int(os.environ["BULK_MB"]) << 20))


def hostile_layer(tar):
    if hostile == "hostile-link":
        entry(tar, "escape", type=tarfile.SYMTYPE, link="/")
        entry(tar, "escape/tmp/hearth-escaped-through-link", b"x\n")
        entry(tar, "abs", type=tarfile.SYMTYPE, link="/tmp")
        entry(tar, "abs/hearth-escaped-through-abs", b"x\n")
        # Where hearth makes its mount points: mnt/config must not become /config.
        entry(tar, "mnt", type=tarfile.SYMTYPE, link="/")
    elif hostile == "hostile-dotdot":
        entry(tar, "../hearth-escaped-dotdot", b"x\n")
    else:
        entry(tar, "passwd-copy", type=tarfile.LNKTYPE, link="../../../../etc/passwd")


def sparse_layer():
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        with open(f"{d}/huge", "wb") as f:
            f.truncate(100 << 30)
            f.seek(50 << 30)
            f.write(b"data")
        return subprocess.run(["tar", "-cSf", "-", "-C", d, "huge"], capture_output=True, check=True).stdout


def bomb_layer():
    # One header made by tarfile, then only its name's digits and the
    # checksum changed per entry: 2^20 + 1 entries in a second or two.
    template = tarfile.TarInfo("w/.wh.0000000").tobuf(format=tarfile.USTAR_FORMAT)
    base = sum(template[:148]) + 8 * 32 + sum(template[156:512]) - sum(b"0000000")
    out = bytearray()
    for i in range((1 << 20) + 1):
        digits = b"%07d" % i
        h = bytearray(template)
        h[6:13] = digits
        h[148:156] = b"%06o\0 " % (base + sum(digits))
        out += h
    out += b"\0" * 1024
    return bytes(out)


def blob(data):
    digest = hashlib.sha256(data).hexdigest()
    with open(f"{out}/layout/blobs/sha256/{digest}", "wb") as f:
        f.write(data)
    return "sha256:" + digest, len(data)


def zstd(data):
    if shutil.which("zstd"):
        return subprocess.run(["zstd", "-q", "-c"], input=data, capture_output=True, check=True).stdout, "zstd"
    return gzip.compress(data, mtime=0), "gzip"


os.makedirs(f"{out}/layout/blobs/sha256", exist_ok=True)
raw = [layer(base), layer(changes), layer(page)]
if hostile == "hostile-sparse":
    raw = [layer(base), sparse_layer()]
elif hostile == "hostile-bomb":
    raw = [layer(base), bomb_layer()]
elif hostile:
    raw = [layer(base), layer(hostile_layer)]
packed = [(raw[0], "tar")] + [(gzip.compress(raw[1], compresslevel=1, mtime=0), "tar+gzip")]
if not hostile and os.environ.get("BULK_MB"):  # umoci 0.4 reads no zstd
    packed.append((gzip.compress(raw[2], mtime=0), "tar+gzip"))
elif not hostile:
    z, kind = zstd(raw[2])
    packed.append((z, "tar+" + kind))
if not hostile and os.environ.get("BULK_MB"):
    raw.append(layer(bulk))
    packed.append((gzip.compress(raw[-1], compresslevel=1, mtime=0), "tar+gzip"))
layers = []
for data, kind in packed:
    d, n = blob(data)
    layers.append({"mediaType": "application/vnd.oci.image.layer.v1." + kind, "digest": d, "size": n})
diff_ids = ["sha256:" + hashlib.sha256(r).hexdigest() for r in raw]


def image(cfg_extra):
    cfg = {
        "architecture": "amd64", "os": "linux",
        "config": {
            "Entrypoint": ["/bin/busybox"],
            "Cmd": ["httpd", "-f", "-p", "80", "-h", "/www"],
            "Env": ["GREETING=hello from the image", "PATH=/bin"],
            "WorkingDir": "/www",
            "ExposedPorts": {"80/tcp": {}},
            "StopSignal": "SIGTERM",
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    cfg["config"].update(cfg_extra)
    cfg_bytes = json.dumps(cfg).encode()
    cd, cn = blob(cfg_bytes)
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cn},
                "layers": layers}
    md, mn = blob(json.dumps(manifest).encode())
    return cfg_bytes, {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": mn}


cfg1, m1 = image({})
_, muser = image({"User": "app", "Cmd": ["sh", "-c", "id -u; id -g; pwd; echo $GREETING"]})
# An index for another platform only.
other = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
         "manifests": [dict(m1, platform={"os": "linux", "architecture": "s390x"})]}
od, on = blob(json.dumps(other).encode())
# A multi-platform index whose amd64 entry is ours.
multi = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
         "manifests": [dict(m1, platform={"os": "linux", "architecture": "arm64"}),
                       dict(m1, platform={"os": "linux", "architecture": "amd64"})]}
xd, xn = blob(json.dumps(multi).encode())
refs = [dict(m1, annotations={"org.opencontainers.image.ref.name": "1"}),
        dict(muser, annotations={"org.opencontainers.image.ref.name": "user"}),
        {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": od, "size": on,
         "annotations": {"org.opencontainers.image.ref.name": "noplatform"}},
        {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": xd, "size": xn,
         "annotations": {"org.opencontainers.image.ref.name": "multi"}}]
with open(f"{out}/layout/index.json", "w") as f:
    json.dump({"schemaVersion": 2, "manifests": refs}, f)
with open(f"{out}/layout/oci-layout", "w") as f:
    json.dump({"imageLayoutVersion": "1.0.0"}, f)

# oci-archive: the layout as a tar.
with tarfile.open(f"{out}/image.oci.tar", "w") as tar:
    tar.add(f"{out}/layout", arcname=".")

# docker-archive: manifest.json, the config, uncompressed layers.
cfg_id = hashlib.sha256(cfg1).hexdigest()
with tarfile.open(f"{out}/image.docker.tar", "w") as tar:
    def add(name, data):
        ti = tarfile.TarInfo(name)
        ti.size = len(data)
        tar.addfile(ti, io.BytesIO(data))
    names = []
    for i, r in enumerate(raw):
        names.append(f"layer{i}/layer.tar")
        add(names[-1], r)
    add(cfg_id + ".json", cfg1)
    add("manifest.json", json.dumps([{"Config": cfg_id + ".json", "RepoTags": ["test/app:1"],
                                      "Layers": names}]).encode())
print(m1["digest"])
