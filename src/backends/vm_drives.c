#include "vm_drives.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include "lib/drive.h"
#include "lib/progress.h"

char *vm_volume_path(const struct guest *g, const struct hearth_volume *v)
{
	if (strchr(v->host, '/'))
		return xstrdup(v->host);
	return xasprintf("%s/volumes/%s.img", g->dir, v->host);
}

/* Config drive (with .hearth/volumes.json), secrets drive, named volumes. */
char *vm_volumes_json(const struct hearth_config *cfg)
{
	json_t *vols = json_array();
	for (size_t i = 0; i < cfg->n_volumes; i++) {
		char serial[HEARTH_VOLUME_SERIAL_MAX];
		hearth_volume_serial(i, serial);
		char device[8];
		snprintf(device, sizeof(device), "vd%c", (char)('d' + i));
		json_array_append_new(vols,
				      json_pack("{s:s, s:s, s:s, s:b}", "serial", serial, "device", device, "path",
						cfg->volumes[i].guest, "read_only", cfg->volumes[i].read_only));
	}
	char *text = json_dumps(vols, JSON_COMPACT);
	json_decref(vols);
	return text;
}

int vm_drives_build(struct guest *g, struct hearth_error **err)
{
	const struct hearth_config *cfg = g->cfg;
	_cleanup_free_ char *vjson = vm_volumes_json(cfg);
	const char *meta[] = { HEARTH_VOLUMES_JSON, vjson, g->workload_json ? HEARTH_WORKLOAD_JSON : NULL,
			       g->workload_json, NULL };
	if (drive_build_files(g->dir, "config.img", HEARTH_CONFIG_LABEL, cfg->config_files, cfg->n_config_files, meta,
			      err) < 0 ||
	    drive_build_files(g->dir, "secrets.img", HEARTH_SECRETS_LABEL, cfg->secret_files, cfg->n_secret_files, NULL,
			      err) < 0)
		return -1;
	for (size_t i = 0; i < cfg->n_volumes; i++) {
		const struct hearth_volume *v = &cfg->volumes[i];
		struct stat st;
		if (strchr(v->host, '/') && stat(v->host, &st) == 0 && S_ISDIR(st.st_mode))
			return fail_invalid(err, "volumes: a VM needs an image file, not a directory (%s)", v->host);
		if (strchr(v->host, '/'))
			continue;
		if (mkdirat(g->dirfd, "volumes", 0700) < 0 && errno != EEXIST)
			return fail_errno(err, "volumes: mkdir: %s", strerror(errno));
		_cleanup_free_ char *path = vm_volume_path(g, v);
		if (drive_create_volume(path, v->size ? v->size : HEARTH_VOLUME_DEFAULT_BYTES, err) < 0)
			return -1;
	}
	return 0;
}

int vm_copy_image(const struct hearth_ctx *ctx, const char *src, const char *dst, struct hearth_error **err)
{
	_cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return fail_errno(err, "rootfs_path: %s: %s", src, strerror(errno));
	struct stat st;
	if (fstat(in, &st) < 0)
		return fail_errno(err, "rootfs_path: %s: %s", src, strerror(errno));
	_cleanup_close_ int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0)
		return fail_errno(err, "state: %s: %s", dst, strerror(errno));
	if (ioctl(out, FICLONE, in) == 0)
		return 0;
	/* Copy data extents only, so a sparse image stays sparse. */
	struct progress prog;
	progress_begin(&prog, ctx, "copying disk and memory images", (uint64_t)st.st_size);
	off_t off = 0;
	while (off < st.st_size) {
		off_t data = lseek(in, off, SEEK_DATA);
		if (data < 0)
			break; /* only a hole is left */
		off_t hole = lseek(in, data, SEEK_HOLE);
		off_t pos = data;
		while (pos < hole) {
			loff_t ipos = pos, opos = pos;
			size_t chunk = hole - pos < (64 << 20) ? (size_t)(hole - pos) : (64 << 20);
			ssize_t n = copy_file_range(in, &ipos, out, &opos, chunk, 0);
			if (n <= 0) {
				unlink(dst);
				return fail_errno(err, "state: copying %s: %s", src,
						  n < 0 ? strerror(errno) : "short copy");
			}
			pos += n;
			progress_add(&prog, (uint64_t)n);
		}
		off = hole;
	}
	progress_end(&prog);
	if (ftruncate(out, st.st_size) < 0) {
		unlink(dst);
		return fail_errno(err, "state: %s: %s", dst, strerror(errno));
	}
	return 0;
}

int vm_persistent_disk(struct guest *g, const char *name, struct hearth_error **err)
{
	struct stat st;
	if (!hearth_config_persistent(g->cfg) || fstatat(g->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return 0;
	_cleanup_free_ char *disk = xasprintf("%s/%s", g->dir, name);
	_cleanup_free_ char *tmp = xasprintf("%s.tmp", disk);
	unlink(tmp); /* a copy cut short */
	if (vm_copy_image(g->ctx, g->cfg->rootfs_path, tmp, err) < 0)
		return -1;
	if (rename(tmp, disk) < 0) {
		unlink(tmp);
		return fail_errno(err, "state: %s: %s", disk, strerror(errno));
	}
	return 0;
}

int vm_copy_volumes(const struct hearth_ctx *ctx, const char *from, const char *to, struct hearth_error **err)
{
	_cleanup_free_ char *src = xasprintf("%s/volumes", from);
	DIR *d = opendir(src);
	if (!d)
		return errno == ENOENT ? 0 : fail_errno(err, "snapshot: %s: %s", src, strerror(errno));
	_cleanup_free_ char *dst = xasprintf("%s/volumes", to);
	int rc =
		mkdir(dst, 0700) < 0 && errno != EEXIST ? fail_errno(err, "snapshot: %s: %s", dst, strerror(errno)) : 0;
	struct dirent *e;
	while (rc == 0 && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		_cleanup_free_ char *a = xasprintf("%s/%s", src, e->d_name);
		_cleanup_free_ char *b = xasprintf("%s/%s", dst, e->d_name);
		rc = vm_copy_image(ctx, a, b, err);
	}
	closedir(d);
	return rc;
}
