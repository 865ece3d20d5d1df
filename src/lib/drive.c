#include "drive.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "proc.h"

static int write_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

static int stage_file(int dirfd, const char *name, const char *data, size_t len, mode_t mode,
		      struct hearth_error **err)
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

static int run_mke2fs(const char *image, const char *label, const char *src, uint64_t size_kib,
		      struct hearth_error **err)
{
	char size[32];
	snprintf(size, sizeof(size), "%lluk", (unsigned long long)size_kib);
	char *argv[16];
	int i = 0;
	argv[i++] = "mke2fs";
	argv[i++] = "-q";
	argv[i++] = "-F";
	argv[i++] = "-t";
	argv[i++] = "ext4";
	argv[i++] = "-L";
	argv[i++] = (char *)label;
	argv[i++] = "-E";
	argv[i++] = "root_owner=0:0";
	if (src) {
		argv[i++] = "-d";
		argv[i++] = (char *)src;
	}
	argv[i++] = (char *)image;
	argv[i++] = size;
	argv[i] = NULL;
	_cleanup_free_ char *out = NULL;
	int rc = proc_run(argv, 60000, &out, err);
	if (rc < 0)
		return -1;
	if (rc != 0) {
		out[strcspn(out, "\n")] = '\0';
		return fail_runtime(err, "drive: mke2fs %s failed (%d): %s", image, rc, out);
	}
	return 0;
}

int drive_build_files(const char *dir, const char *image, const char *label, const struct hearth_file *files,
		      size_t n, const char *extra_json, struct hearth_error **err)
{
	_cleanup_free_ char *stage = xasprintf("%s/.stage-%s-XXXXXX", dir, label);
	_cleanup_free_ char *img = xasprintf("%s/%s", dir, image);
	if (!mkdtemp(stage)) /* 0700 */
		return fail_errno(err, "drive: mkdtemp in %s: %s", dir, strerror(errno));
	int rc = -1, ifd = -1;
	int sfd = open(stage, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sfd < 0) {
		fail_errno(err, "drive: open %s: %s", stage, strerror(errno));
		goto out;
	}
	uint64_t total = 0;
	for (size_t i = 0; i < n; i++) {
		if (stage_file(sfd, files[i].name, files[i].content, files[i].size, files[i].mode, err) < 0)
			goto out;
		total += files[i].size;
	}
	if (extra_json) {
		if (mkdirat(sfd, ".hearth", 0755) < 0) {
			fail_errno(err, "drive: mkdir .hearth: %s", strerror(errno));
			goto out;
		}
		_cleanup_free_ char *rel = xstrdup(".hearth/volumes.json");
		if (stage_file(sfd, rel, extra_json, strlen(extra_json), 0444, err) < 0)
			goto out;
	}
	/* The config root is world-readable; the secrets root stays 0700. */
	if (strcmp(label, SECRETS_LABEL) != 0 && fchmod(sfd, 0755) < 0) {
		fail_errno(err, "drive: chmod %s: %s", stage, strerror(errno));
		goto out;
	}
	ifd = open(img, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (ifd < 0) {
		fail_errno(err, "drive: create %s: %s", img, strerror(errno));
		goto out;
	}
	/* Room for the content at 1 KiB blocks plus a generous margin. */
	uint64_t size_kib = 4096 + (total / 1024) * 2 + n * 8;
	rc = run_mke2fs(img, label, stage, size_kib, err);
	if (rc < 0)
		unlink(img);
out:
	if (ifd >= 0)
		close(ifd);
	if (sfd >= 0)
		close(sfd);
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
