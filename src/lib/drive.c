#include "drive.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "hearth/contract.h"
#include "proc.h"
#if HEARTH_LINUX
#include <sched.h>
#include <sys/mount.h>
#endif

static int stage_file(int dirfd, const char *name, const char *data, size_t len, mode_t mode, struct hearth_error **err)
{
	/* Created with its final mode: a secret is never readable by others,
	 * not even for the moment between create and chmod. */
	_cleanup_close_ int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0 || write_all(fd, data, len) < 0 || fchmod(fd, mode) < 0)
		return fail_errno(err, "drive: stage %s: %s", name, strerror(errno));
	return 0;
}

int files_write_dir(const char *dir, mode_t dir_mode, const struct hearth_file *files, size_t n,
		    struct hearth_error **err)
{
	if (mkdir(dir, dir_mode) < 0)
		return fail_errno(err, "files: mkdir %s: %s", dir, strerror(errno));
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (dfd < 0 || fchmod(dfd, dir_mode) < 0)
		return fail_errno(err, "files: open %s: %s", dir, strerror(errno));
	for (size_t i = 0; i < n; i++)
		if (stage_file(dfd, files[i].name, files[i].content, files[i].size, files[i].mode, err) < 0)
			return -1;
	return 0;
}

/* What goes into a drive, written into STAGE (an empty directory). */
struct stage {
	const char *dir;
	const char *label;
	const struct hearth_file *files;
	size_t n;
	const char *const *meta;
	uint64_t tmpfs_bytes; /* > 0: STAGE is first made a private tmpfs */
};

static int stage_fill(const struct stage *st, struct hearth_error **err)
{
	_cleanup_close_ int sfd = open(st->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (sfd < 0)
		return fail_errno(err, "drive: open %s: %s", st->dir, strerror(errno));
	for (size_t i = 0; i < st->n; i++)
		if (stage_file(sfd, st->files[i].name, st->files[i].content, st->files[i].size, st->files[i].mode,
			       err) < 0)
			return -1;
	if (st->meta && mkdirat(sfd, ".hearth", 0755) < 0)
		return fail_errno(err, "drive: mkdir .hearth: %s", strerror(errno));
	for (const char *const *m = st->meta; m && *m; m += 2)
		if (stage_file(sfd, m[0], m[1], strlen(m[1]), 0444, err) < 0)
			return -1;
	/* The config root is world-readable; the secrets root stays 0700. */
	if (fchmod(sfd, strcmp(st->label, HEARTH_SECRETS_LABEL) == 0 ? 0700 : 0755) < 0)
		return fail_errno(err, "drive: chmod %s: %s", st->dir, strerror(errno));
	return 0;
}

/* In mke2fs's child, as root: the staging directory becomes a tmpfs in a
 * mount namespace of the child's own, so the copies live in memory only
 * and vanish with the child, however the command that ran it ends. */
static int stage_in_private_tmpfs(void *arg)
{
	const struct stage *st = arg;
	char opts[64];
	snprintf(opts, sizeof(opts), "mode=0700,size=%llu", (unsigned long long)st->tmpfs_bytes);
	struct hearth_error *err = NULL;
#if HEARTH_LINUX
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", st->dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts) < 0) {
		dprintf(2, "private tmpfs for %s: %s\n", st->dir, strerror(errno));
		return -1;
	}
#else
	dprintf(2, "private tmpfs for %s: mount namespaces are Linux's\n", st->dir);
	return -1;
#endif
	if (stage_fill(st, &err) < 0) {
		dprintf(2, "%s\n", err->message);
		hearth_error_free(err);
		return -1;
	}
	return 0;
}

void mke2fs_argv(struct strv *argv, const char *label)
{
	static const char *const head[] = { "mke2fs", "-q", "-F", "-t", "ext4", "-E", "root_owner=0:0", "-L" };
	for (size_t i = 0; i < ARRAY_SIZE(head); i++)
		strv_add(argv, xstrdup(head[i]));
	strv_add(argv, xstrdup(label));
}

static int run_mke2fs(const char *image, const char *label, const struct stage *st, uint64_t size_kib,
		      struct hearth_error **err)
{
	char size[32];
	snprintf(size, sizeof(size), "%lluk", (unsigned long long)size_kib);
	struct strv argv = { 0 };
	mke2fs_argv(&argv, label);
	if (st) {
		strv_add(&argv, xstrdup("-d"));
		strv_add(&argv, xstrdup(st->dir));
	}
	strv_add(&argv, xstrdup(image));
	strv_add(&argv, xstrdup(size));
	_cleanup_free_ char *out = NULL;
	bool hooked = st && st->tmpfs_bytes > 0;
	int rc = proc_run_hook(argv.v, 60000, &out, hooked ? stage_in_private_tmpfs : NULL, (void *)st, err);
	strv_free(&argv);
	if (rc < 0)
		return -1;
	if (rc != 0) {
		out[strcspn(out, "\n")] = '\0';
		return fail_runtime(err, "drive: mke2fs %s failed (%d): %s", image, rc, out);
	}
	return 0;
}

int drive_build_files(const char *dir, const char *image, const char *label, const struct hearth_file *files, size_t n,
		      const char *const *meta, struct hearth_error **err)
{
	_cleanup_free_ char *stage = xasprintf("%s/.stage-%s-XXXXXX", dir, label);
	_cleanup_free_ char *img = xasprintf("%s/%s", dir, image);
	if (!mkdtemp(stage)) /* 0700 */
		return fail_errno(err, "drive: mkdtemp in %s: %s", dir, strerror(errno));
	uint64_t total = 0;
	for (const char *const *m = meta; m && *m; m += 2)
		total += strlen(m[1]) + 4096;
	for (size_t i = 0; i < n; i++)
		total += files[i].size;
	/* Root stages in memory (see stage_in_private_tmpfs); anyone else on
	 * disk, in the guest's own 0700 directory, removed right after. */
	struct stage st = { .dir = stage,
			    .label = label,
			    .files = files,
			    .n = n,
			    .meta = meta,
			    .tmpfs_bytes = geteuid() == 0 ? total + (n + 2) * 4096 + (1 << 20) : 0 };
	int rc = -1;
	_cleanup_close_ int ifd = -1;
	if (st.tmpfs_bytes == 0 && stage_fill(&st, err) < 0)
		goto out;
	ifd = open(img, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (ifd < 0) {
		fail_errno(err, "drive: create %s: %s", img, strerror(errno));
		goto out;
	}
	/* Room for the content at 1 KiB blocks plus a generous margin, and
	 * never under DRIVE_MIN_KIB: a guest restored from a snapshot gets
	 * its own drive in place of the snapshot's, and its kernel knows the
	 * capacity it saw at boot (a sparse file: the floor costs no disk). */
	uint64_t size_kib = 4096 + (total / 1024) * 2 + n * 8;
	if (size_kib < DRIVE_MIN_KIB)
		size_kib = DRIVE_MIN_KIB;
	rc = run_mke2fs(img, label, &st, size_kib, err);
	if (rc < 0)
		unlink(img);
out:
	rm_rf(stage);
	return rc;
}

int drive_create_volume(const char *path, uint64_t size, struct hearth_error **err)
{
	struct stat st;
	if (stat(path, &st) == 0)
		return 0;
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return fail_errno(err, "volume: create %s: %s", path, strerror(errno));
	if (ftruncate(fd, (off_t)size) < 0) {
		int saved = errno;
		unlink(path);
		return hearth_fail(err, HEARTH_ERR_RUNTIME, saved, "volume: size %s: %s", path, strerror(saved));
	}
	const char *base = strrchr(path, '/');
	char label[17];
	snprintf(label, sizeof(label), "%s", base ? base + 1 : path);
	char *dot = strrchr(label, '.');
	if (dot)
		*dot = '\0';
	if (run_mke2fs(path, label, NULL, size / 1024, err) < 0) {
		unlink(path);
		return -1;
	}
	return 0;
}
