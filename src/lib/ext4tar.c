#include "ext4tar.h"

#include <archive.h>
#include <archive_entry.h>
#include <et/com_err.h>
#include <ext2fs/ext2fs.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

struct walk {
	ext2_filsys fs;
	struct archive *ar;
	struct hearth_error **err;
	int failed;
};

static int walk_dir(struct walk *w, ext2_ino_t dir, const char *prefix);

/* Device numbers in an inode: the old 8:8 encoding in i_block[0], else
 * the new one in i_block[1] (the kernel's old/new_encode_dev). */
static dev_t inode_rdev(const struct ext2_inode *inode)
{
	if (inode->i_block[0]) {
		unsigned v = inode->i_block[0];
		return makedev((v >> 8) & 255, v & 255);
	}
	unsigned v = inode->i_block[1];
	return makedev((v & 0xfff00) >> 8, (v & 0xff) | ((v >> 12) & 0xfff00));
}

static int read_inode_data(struct walk *w, ext2_ino_t ino, char *buf, size_t len, size_t *ret_got)
{
	ext2_file_t f;
	errcode_t e = ext2fs_file_open(w->fs, ino, 0, &f);
	if (e)
		return fail_runtime(w->err, "ext4: open inode %u: %s", ino, error_message(e));
	unsigned got = 0;
	e = ext2fs_file_read(f, buf, (unsigned)len, &got);
	ext2fs_file_close(f);
	if (e)
		return fail_runtime(w->err, "ext4: read inode %u: %s", ino, error_message(e));
	*ret_got = got;
	return 0;
}

static int write_data(struct walk *w, ext2_ino_t ino, const char *path)
{
	ext2_file_t f;
	errcode_t e = ext2fs_file_open(w->fs, ino, 0, &f);
	if (e)
		return fail_runtime(w->err, "ext4: open %s: %s", path, error_message(e));
	char buf[65536];
	int rc = 0;
	for (;;) {
		unsigned got = 0;
		e = ext2fs_file_read(f, buf, sizeof(buf), &got);
		if (e) {
			rc = fail_runtime(w->err, "ext4: read %s: %s", path, error_message(e));
			break;
		}
		if (got == 0)
			break;
		if (archive_write_data(w->ar, buf, got) < 0) {
			rc = fail_runtime(w->err, "tar: %s: %s", path, archive_error_string(w->ar));
			break;
		}
	}
	ext2fs_file_close(f);
	return rc;
}

static int add_entry(struct walk *w, ext2_ino_t ino, const char *path)
{
	struct ext2_inode inode;
	errcode_t e = ext2fs_read_inode(w->fs, ino, &inode);
	if (e)
		return fail_runtime(w->err, "ext4: inode of %s: %s", path, error_message(e));
	struct archive_entry *ent = archive_entry_new();
	archive_entry_set_pathname(ent, path);
	archive_entry_set_mode(ent, inode.i_mode);
	archive_entry_set_uid(ent, inode_uid(inode));
	archive_entry_set_gid(ent, inode_gid(inode));
	archive_entry_set_mtime(ent, inode.i_mtime, 0);
	int rc = 0;
	char target[4096];
	size_t got = 0;
	switch (inode.i_mode & S_IFMT) {
	case S_IFREG:
		archive_entry_set_size(ent, (la_int64_t)EXT2_I_SIZE(&inode));
		break;
	case S_IFLNK:
		if (ext2fs_is_fast_symlink(&inode)) {
			got = inode.i_size < sizeof(target) ? inode.i_size : sizeof(target) - 1;
			memcpy(target, (const char *)inode.i_block, got);
		} else if (read_inode_data(w, ino, target, sizeof(target) - 1, &got) < 0) {
			rc = -1;
		}
		target[got] = '\0';
		archive_entry_set_symlink(ent, target);
		break;
	case S_IFCHR:
	case S_IFBLK:
		archive_entry_set_rdev(ent, inode_rdev(&inode));
		break;
	case S_IFDIR:
	case S_IFIFO:
		break;
	default: /* sockets do not travel in tar */
		archive_entry_free(ent);
		return 0;
	}
	if (rc == 0 && archive_write_header(w->ar, ent) != ARCHIVE_OK)
		rc = fail_runtime(w->err, "tar: %s: %s", path, archive_error_string(w->ar));
	archive_entry_free(ent);
	if (rc == 0 && S_ISREG(inode.i_mode))
		rc = write_data(w, ino, path);
	if (rc == 0 && S_ISDIR(inode.i_mode))
		rc = walk_dir(w, ino, path);
	return rc;
}

struct dir_ctx {
	struct walk *w;
	const char *prefix;
};

static int on_dirent(struct ext2_dir_entry *dirent, int offset, int blocksize, char *buf, void *arg)
{
	(void)offset;
	(void)blocksize;
	(void)buf;
	struct dir_ctx *d = arg;
	int len = ext2fs_dirent_name_len(dirent);
	if ((len == 1 && dirent->name[0] == '.') || (len == 2 && dirent->name[0] == '.' && dirent->name[1] == '.'))
		return 0;
	_cleanup_free_ char *path = xasprintf("%s%s%.*s", d->prefix, *d->prefix ? "/" : "", len, dirent->name);
	if (add_entry(d->w, dirent->inode, path) < 0) {
		d->w->failed = 1;
		return DIRENT_ABORT;
	}
	return 0;
}

static int walk_dir(struct walk *w, ext2_ino_t dir, const char *prefix)
{
	struct dir_ctx d = { w, prefix };
	errcode_t e = ext2fs_dir_iterate(w->fs, dir, 0, NULL, on_dirent, &d);
	if (w->failed)
		return -1;
	if (e)
		return fail_runtime(w->err, "ext4: read directory %s: %s", *prefix ? prefix : "/", error_message(e));
	return 0;
}

int ext4_to_tar(const char *image, int fd, struct hearth_error **err)
{
	struct walk w = { .err = err };
	errcode_t e = ext2fs_open(image, 0, 0, 0, unix_io_manager, &w.fs);
	if (e)
		return fail_runtime(err, "ext4: cannot open %s: %s", image, error_message(e));
	w.ar = archive_write_new();
	archive_write_set_format_pax_restricted(w.ar);
	int rc = -1;
	if (archive_write_open_fd(w.ar, fd) != ARCHIVE_OK) {
		fail_runtime(err, "tar: %s", archive_error_string(w.ar));
		goto out;
	}
	rc = walk_dir(&w, EXT2_ROOT_INO, "");
	if (archive_write_close(w.ar) != ARCHIVE_OK && rc == 0)
		rc = fail_runtime(err, "tar: %s", archive_error_string(w.ar));
out:
	archive_write_free(w.ar);
	ext2fs_close_free(&w.fs);
	return rc;
}
