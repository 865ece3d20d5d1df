#include "ext4tar.h"

#include <et/com_err.h>
#include <ext2fs/ext2_err.h>
#include <ext2fs/ext2fs.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#ifdef __linux__
#include <sys/sysmacros.h> /* glibc's home of makedev */
#endif

#include "progress.h"
#include "lazylib.h"

/* An image is not trusted: its walk is bounded. */
#define MAX_ENTRIES (16u << 20)
#define MAX_DEPTH 4096

/* Inodes already seen: directories (a second name for one is a loop) and
 * files with more than one link (later names become hard links to the
 * first). Open addressing on the inode number. */
struct seen {
	ext2_ino_t *ino;
	char **path; /* the first name of a linked file; NULL for directories */
	size_t cap, n;
};

static size_t seen_slot(const struct seen *s, ext2_ino_t ino)
{
	size_t i = (ino * 2654435761u) & (s->cap - 1);
	while (s->ino[i] && s->ino[i] != ino)
		i = (i + 1) & (s->cap - 1);
	return i;
}

static const struct seen *seen_find(const struct seen *s, ext2_ino_t ino, size_t *ret)
{
	if (!s->cap)
		return NULL;
	size_t i = seen_slot(s, ino);
	*ret = i;
	return s->ino[i] ? s : NULL;
}

static void seen_add(struct seen *s, ext2_ino_t ino, const char *path)
{
	if (2 * (s->n + 1) > s->cap) {
		struct seen bigger = { .cap = s->cap ? 2 * s->cap : 256 };
		bigger.ino = xcalloc(bigger.cap, sizeof(*bigger.ino));
		bigger.path = xcalloc(bigger.cap, sizeof(*bigger.path));
		for (size_t i = 0; i < s->cap; i++)
			if (s->ino[i]) {
				size_t j = seen_slot(&bigger, s->ino[i]);
				bigger.ino[j] = s->ino[i];
				bigger.path[j] = s->path[i];
			}
		bigger.n = s->n;
		free(s->ino);
		free(s->path);
		*s = bigger;
	}
	size_t i = seen_slot(s, ino);
	s->ino[i] = ino;
	s->path[i] = path ? xstrdup(path) : NULL;
	s->n++;
}

static void seen_free(struct seen *s)
{
	for (size_t i = 0; i < s->cap; i++)
		free(s->path[i]);
	free(s->ino);
	free(s->path);
}

struct walk {
	ext2_filsys fs;
	struct archive *ar;
	struct hearth_error **err;
	int failed;
	struct seen seen;
	size_t entries;
	unsigned depth;
	uint64_t image_bytes;
	uint64_t claimed; /* bytes of file data the tar stream carries so far */
	struct progress progress;
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

static int write_data(struct walk *w, ext2_ino_t ino, const char *path, uint64_t size)
{
	ext2_file_t f;
	errcode_t e = ext2fs_file_open(w->fs, ino, 0, &f);
	if (e)
		return fail_runtime(w->err, "ext4: open %s: %s", path, error_message(e));
	char buf[65536];
	int rc = 0;
	uint64_t left = size;
	while (left > 0) {
		unsigned got = 0;
		e = ext2fs_file_read(f, buf, left < sizeof(buf) ? (unsigned)left : sizeof(buf), &got);
		if (e) {
			rc = fail_runtime(w->err, "ext4: read %s: %s", path, error_message(e));
			break;
		}
		if (got == 0) {
			rc = fail_runtime(w->err, "ext4: %s: shorter than its size", path);
			break;
		}
		if (sym_archive_write_data(w->ar, buf, got) < 0) {
			rc = fail_runtime(w->err, "tar: %s: %s", path, sym_archive_error_string(w->ar));
			break;
		}
		left -= got;
		progress_add(&w->progress, got);
	}
	ext2fs_file_close(f);
	return rc;
}

/* Every extended attribute (security.capability, user.*, ACLs) as pax
 * SCHILY.xattr records. */
static int xattr_one(char *name, char *value, size_t len, void *arg)
{
	sym_archive_entry_xattr_add_entry(arg, name, value, len);
	return 0;
}

static int add_xattrs(struct walk *w, ext2_ino_t ino, struct archive_entry *ent, const char *path)
{
	struct ext2_xattr_handle *h;
	errcode_t e = ext2fs_xattrs_open(w->fs, ino, &h);
	if (e)
		return fail_runtime(w->err, "ext4: xattrs of %s: %s", path, error_message(e));
	e = ext2fs_xattrs_read(h);
	if (!e)
		e = ext2fs_xattrs_iterate(h, xattr_one, ent);
	ext2fs_xattrs_close(&h);
	if (e)
		return fail_runtime(w->err, "ext4: xattrs of %s: %s", path, error_message(e));
	return 0;
}

static int add_entry(struct walk *w, ext2_ino_t ino, const char *path)
{
	struct ext2_inode inode;
	errcode_t e = ext2fs_read_inode(w->fs, ino, &inode);
	if (e)
		return fail_runtime(w->err, "ext4: inode of %s: %s", path, error_message(e));
	if (++w->entries > MAX_ENTRIES)
		return fail_runtime(w->err, "ext4: more than %u entries (at %s)", MAX_ENTRIES, path);
	struct archive_entry *ent = sym_archive_entry_new();
	/* Names and link targets are bytes, whatever the locale: the writer
	 * takes them raw (hdrcharset=BINARY), never through iconv. */
	sym_archive_entry_copy_pathname(ent, path);
	sym_archive_entry_set_mode(ent, inode.i_mode);
	sym_archive_entry_set_uid(ent, inode_uid(inode));
	sym_archive_entry_set_gid(ent, inode_gid(inode));
	sym_archive_entry_set_mtime(ent, inode.i_mtime, 0);
	int rc = 0;
	char target[4096];
	size_t got = 0, slot;
	uint64_t size = EXT2_I_SIZE(&inode);
	bool link_to_first = false;
	switch (inode.i_mode & S_IFMT) {
	case S_IFREG:
		if (size > w->image_bytes && !(inode.i_flags & EXT4_INLINE_DATA_FL)) {
			/* Holes aside, data cannot outgrow the image that holds it;
			 * a sparse file still reads as its full size into tar. */
			blk64_t blocks = ext2fs_get_stat_i_blocks(w->fs, &inode);
			if (blocks * 512 > w->image_bytes || size > (w->image_bytes << 8)) {
				sym_archive_entry_free(ent);
				return fail_runtime(w->err, "ext4: %s claims %llu bytes in a %llu-byte image", path,
						    (unsigned long long)size, (unsigned long long)w->image_bytes);
			}
		}
		if (inode.i_links_count > 1 && seen_find(&w->seen, ino, &slot)) {
			sym_archive_entry_copy_hardlink(ent, w->seen.path[slot]);
			sym_archive_entry_set_size(ent, 0);
			link_to_first = true;
			break;
		}
		if (inode.i_links_count > 1)
			seen_add(&w->seen, ino, path);
		/* Sparse files together, not just each, stay within what the
		 * image could mean: 256 times its size (a fuzzer's many 16 MiB
		 * holes in a 64 KiB image took minutes). */
		w->claimed += size;
		if (w->claimed > (w->image_bytes << 8)) {
			sym_archive_entry_free(ent);
			return fail_runtime(w->err, "ext4: the files up to %s claim %llu bytes in a %llu-byte image",
					    path, (unsigned long long)w->claimed, (unsigned long long)w->image_bytes);
		}
		sym_archive_entry_set_size(ent, (la_int64_t)size);
		break;
	case S_IFLNK:
		if (ext2fs_is_fast_symlink(&inode)) {
			got = inode.i_size < sizeof(target) ? inode.i_size : sizeof(target) - 1;
			memcpy(target, (const char *)inode.i_block, got);
		} else if (read_inode_data(w, ino, target, sizeof(target) - 1, &got) < 0) {
			rc = -1;
		}
		target[got] = '\0';
		sym_archive_entry_copy_symlink(ent, target);
		break;
	case S_IFCHR:
	case S_IFBLK:
		sym_archive_entry_set_rdev(ent, inode_rdev(&inode));
		break;
	case S_IFDIR:
		if (seen_find(&w->seen, ino, &slot)) {
			sym_archive_entry_free(ent);
			return fail_runtime(w->err, "ext4: directory loop: %s is a second name of a directory", path);
		}
		seen_add(&w->seen, ino, NULL);
		break;
	case S_IFIFO:
		break;
	default: /* sockets do not travel in tar */
		sym_archive_entry_free(ent);
		return 0;
	}
	if (rc == 0 && !link_to_first)
		rc = add_xattrs(w, ino, ent, path);
	if (rc == 0 && sym_archive_write_header(w->ar, ent) != ARCHIVE_OK)
		rc = fail_runtime(w->err, "tar: %s: %s", path, sym_archive_error_string(w->ar));
	sym_archive_entry_free(ent);
	if (rc == 0 && S_ISREG(inode.i_mode) && !link_to_first)
		rc = write_data(w, ino, path, size);
	if (rc == 0 && S_ISDIR(inode.i_mode)) {
		if (++w->depth > MAX_DEPTH)
			return fail_runtime(w->err, "ext4: directories nested deeper than %d (at %s)", MAX_DEPTH, path);
		rc = walk_dir(w, ino, path);
		w->depth--;
	}
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
	if (memchr(dirent->name, '/', (size_t)len) || memchr(dirent->name, '\0', (size_t)len)) {
		d->w->failed =
			fail_runtime(d->w->err, "ext4: a name in %s holds '/' or NUL", *d->prefix ? d->prefix : "/");
		return DIRENT_ABORT;
	}
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

static void add_ext2_errors(void)
{
	initialize_ext2_error_table();
}

int ext4_to_tar(const struct hearth_ctx *ctx, const char *image, int fd, struct hearth_error **err)
{
	struct walk w = { .err = err };
	if (lazy_archive(err) < 0)
		return -1;
	struct stat st;
	if (stat(image, &st) < 0)
		return fail_errno(err, "ext4: %s: %s", image, strerror(errno));
	w.image_bytes = (uint64_t)st.st_size;
	/* error_message() names libext2fs's codes once its table is known. */
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, add_ext2_errors);
	errcode_t e = ext2fs_open(image, 0, 0, 0, unix_io_manager, &w.fs);
	if (e)
		return fail_runtime(err, "ext4: cannot open %s: %s", image, error_message(e));
	w.ar = sym_archive_write_new();
	sym_archive_write_set_format_pax_restricted(w.ar);
	/* Pipe-sized writes rather than tar's 10 KiB records one by one. */
	sym_archive_write_set_bytes_per_block(w.ar, 1 << 16);
	int rc = -1;
	if (sym_archive_write_set_format_option(w.ar, "pax", "hdrcharset", "BINARY") != ARCHIVE_OK ||
	    sym_archive_write_open_fd(w.ar, fd) != ARCHIVE_OK) {
		fail_runtime(err, "tar: %s", sym_archive_error_string(w.ar));
		goto out;
	}
	seen_add(&w.seen, EXT2_ROOT_INO, NULL);
	/* About the data to come: the blocks in use (metadata too). */
	uint64_t used = (ext2fs_blocks_count(w.fs->super) - ext2fs_free_blocks_count(w.fs->super)) * w.fs->blocksize;
	progress_begin(&w.progress, ctx, "importing the rootfs", used);
	rc = walk_dir(&w, EXT2_ROOT_INO, "");
	progress_end(&w.progress);
	/* A walk that failed ends the stream as it is: closing would pad the
	 * last entry to the size its header claimed. */
	if (rc < 0)
		sym_archive_write_fail(w.ar);
	if (sym_archive_write_close(w.ar) != ARCHIVE_OK && rc == 0)
		rc = fail_runtime(err, "tar: %s", sym_archive_error_string(w.ar));
out:
	sym_archive_write_free(w.ar);
	ext2fs_close_free(&w.fs);
	seen_free(&w.seen);
	return rc;
}
