#include "unpack.h"

#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#ifdef __linux__
#include <sys/sysmacros.h> /* glibc's home of makedev */
#endif
#if HEARTH_LINUX
#include <linux/openat2.h>
#include <sys/xattr.h>
#endif
#include "lib/lazylib.h"

#define WHITEOUT ".wh."
#define OPAQUE ".wh..wh..opq"

struct layer {
	struct unpack *u;
	const char *what;
	json_t *made; /* paths this layer created: an opaque marker spares them */
};

#define MAX_LINKS 40 /* as the kernel's own limit */

/* RESOLVE_IN_ROOT by hand, where openat2 is missing (Linux before 5.6,
 * valgrind): PATH's components checked one by one, a symlink's target
 * followed from the root (absolute) or from where it is, ".." never
 * above the root. Only this process writes the staging tree, so what
 * is checked stays as it was when opened. */
static int walk_in_root(int rootfd, const char *path)
{
	struct strbuf done = { 0 }, todo = { 0 };
	strbuf_append(&done, "", 0);
	strbuf_append(&todo, path, strlen(path));
	int links = 0, fd = -1;
	for (;;) {
		char *rest = todo.buf + strspn(todo.buf, "/");
		size_t n = strcspn(rest, "/");
		if (n == 0)
			break;
		_cleanup_free_ char *part = xstrndup(rest, n);
		memmove(todo.buf, rest + n, strlen(rest + n) + 1);
		todo.len = strlen(todo.buf);
		if (strcmp(part, ".") == 0)
			continue;
		if (strcmp(part, "..") == 0) {
			char *slash = strrchr(done.buf, '/');
			done.len = slash ? (size_t)(slash - done.buf) : 0;
			done.buf[done.len] = '\0';
			continue;
		}
		_cleanup_free_ char *next = done.len ? xasprintf("%s/%s", done.buf, part) : xstrdup(part);
		struct stat st;
		if (fstatat(rootfd, next, &st, AT_SYMLINK_NOFOLLOW) < 0)
			goto out;
		if (S_ISLNK(st.st_mode)) {
			char target[PATH_MAX];
			ssize_t len = readlinkat(rootfd, next, target, sizeof(target) - 1);
			if (len < 0 || ++links > MAX_LINKS) {
				errno = len < 0 ? errno : ELOOP;
				goto out;
			}
			target[len] = '\0';
			_cleanup_free_ char *joined = xasprintf("%s/%s", target, todo.buf);
			todo.len = 0;
			strbuf_append(&todo, joined, strlen(joined));
			if (target[0] == '/') {
				done.len = 0;
				done.buf[0] = '\0';
			}
			continue;
		}
		done.len = 0;
		strbuf_append(&done, next, strlen(next));
	}
	fd = openat(rootfd, done.len ? done.buf : ".", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
out:;
	int e = errno;
	strbuf_release(&done);
	strbuf_release(&todo);
	errno = e;
	return fd;
}

/* PATH (relative) resolved inside the staging root, as a directory. */
static int open_in_root(int rootfd, const char *path)
{
	if (!*path)
		return fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
#if HEARTH_LINUX
	struct open_how how = { .flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
				.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
	int fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
	return fd < 0 && errno == ENOSYS ? walk_in_root(rootfd, path) : fd;
#else
	return walk_in_root(rootfd, path);
#endif
}

/* The directory PATH in the image, made (0755, root's) where missing. */
static int open_dir_made(struct layer *l, const char *path)
{
	int fd = open_in_root(l->u->rootfd, path);
	if (fd >= 0 || errno != ENOENT)
		return fd;
	_cleanup_free_ char *prefix = xstrdup(path);
	for (char *slash = prefix;; slash++) {
		slash = strchr(slash, '/');
		if (slash)
			*slash = '\0';
		int dfd = open_in_root(l->u->rootfd, prefix);
		if (dfd < 0 && errno == ENOENT) {
			char *base = strrchr(prefix, '/');
			_cleanup_free_ char *up = base ? xstrndup(prefix, (size_t)(base - prefix)) : xstrdup("");
			_cleanup_close_ int pfd = open_in_root(l->u->rootfd, up);
			if (pfd < 0 || mkdirat(pfd, base ? base + 1 : prefix, 0755) < 0)
				return -1;
			json_object_set_new(l->made, prefix, json_true());
		} else if (dfd < 0) {
			return -1;
		}
		if (dfd >= 0)
			close(dfd);
		if (!slash)
			break;
		*slash = '/';
	}
	return open_in_root(l->u->rootfd, path);
}

/* NAME from the tar made relative and checked: no "..", no empty name
 * parts; "" for the root itself. NULL when refused. */
static char *clean_name(const char *name)
{
	struct strbuf sb = { 0 };
	strbuf_append(&sb, "", 0);
	const char *p = name;
	while (*p) {
		size_t n = strcspn(p, "/");
		if (n == 2 && strncmp(p, "..", 2) == 0) {
			strbuf_release(&sb);
			return NULL;
		}
		if (n > 0 && !(n == 1 && *p == '.')) {
			if (sb.len)
				strbuf_append(&sb, "/", 1);
			strbuf_append(&sb, p, n);
		}
		p += n;
		p += *p == '/';
	}
	return sb.buf;
}

/* Empties directory FD of what lower layers left (PATH is its name). */
static int make_opaque(struct layer *l, int fd, const char *path)
{
	int dup = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	DIR *d = dup >= 0 ? fdopendir(dup) : NULL;
	if (!d)
		return -1;
	struct dirent *e;
	int rc = 0;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		_cleanup_free_ char *child = *path ? xasprintf("%s/%s", path, e->d_name) : xstrdup(e->d_name);
		if (!json_object_get(l->made, child) && rm_rf_at(fd, e->d_name) < 0)
			rc = -1;
	}
	closedir(d);
	return rc;
}

static int set_xattrs(int parent, const char *base, struct archive_entry *e)
{
#if !HEARTH_LINUX
	(void)parent, (void)base, (void)e; /* macOS's xattr calls differ; images there keep none */
	return 0;
#else
	const char *name;
	const void *value;
	size_t size;
	sym_archive_entry_xattr_reset(e);
	while (sym_archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
		char path[64 + NAME_MAX];
		snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", parent, base);
		if (lsetxattr(path, name, value, size, 0) < 0 && errno != ENOTSUP && errno != EPERM)
			return -1;
	}
	return 0;
#endif
}

static int write_data(struct layer *l, struct archive *a, int fd, int64_t size)
{
	const void *buf;
	size_t len;
	la_int64_t off;
	int r;
	while ((r = sym_archive_read_data_block(a, &buf, &len, &off)) == ARCHIVE_OK) {
		l->u->bytes += len;
		if (l->u->bytes > l->u->max_bytes) {
			errno = EFBIG;
			return -1;
		}
		for (size_t done = 0; done < len;) {
			ssize_t w = pwrite(fd, (const char *)buf + done, len - done, off + (off_t)done);
			if (w < 0)
				return -1;
			done += (size_t)w;
		}
	}
	if (r != ARCHIVE_EOF) {
		errno = EIO;
		return -1;
	}
	return ftruncate(fd, size); /* a sparse tail stays a hole */
}

/* Owner, mode, times and xattrs of the entry just made at PARENT/BASE. */
static int set_meta(struct layer *l, int parent, const char *base, struct archive_entry *e, mode_t type)
{
	uid_t uid = (uid_t)sym_archive_entry_uid(e);
	gid_t gid = (gid_t)sym_archive_entry_gid(e);
	/* The root itself (BASE empty) by its descriptor. */
	int owned = !l->u->owners ? 0
		    : *base	  ? fchownat(parent, base, uid, gid, AT_SYMLINK_NOFOLLOW)
				  : fchown(parent, uid, gid);
	if (owned < 0)
		return -1;
	if (type != S_IFLNK && fchmodat(parent, *base ? base : ".", sym_archive_entry_perm(e) & 07777, 0) < 0)
		return -1;
	struct timespec ts[2] = { { sym_archive_entry_mtime(e), 0 }, { sym_archive_entry_mtime(e), 0 } };
	if (utimensat(parent, *base ? base : ".", ts, AT_SYMLINK_NOFOLLOW) < 0)
		return -1;
	return *base ? set_xattrs(parent, base, e) : 0;
}

static int apply_entry(struct layer *l, struct archive *a, struct archive_entry *e, const char *path,
		       struct hearth_error **err)
{
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	_cleanup_free_ char *dir = slash ? xstrndup(path, (size_t)(slash - path)) : xstrdup("");
	if (strcmp(base, OPAQUE) == 0) {
		_cleanup_close_ int fd = open_dir_made(l, dir);
		if (fd < 0 || make_opaque(l, fd, dir) < 0)
			return fail_errno(err, "%s: opaque directory /%s: %s", l->what, dir, strerror(errno));
		return 0;
	}
	if (str_has_prefix(base, WHITEOUT)) {
		const char *gone = base + strlen(WHITEOUT);
		if (!*gone || strcmp(gone, ".") == 0 || strcmp(gone, "..") == 0)
			return fail_invalid(err, "%s: a whiteout of no name (/%s)", l->what, path);
		_cleanup_close_ int fd = open_in_root(l->u->rootfd, dir);
		if (fd >= 0 && rm_rf_at(fd, gone) < 0)
			return fail_errno(err, "%s: whiteout /%s: %s", l->what, path, strerror(errno));
		return 0;
	}
	mode_t type = sym_archive_entry_filetype(e);
	const char *link = sym_archive_entry_hardlink(e);
	_cleanup_close_ int parent = *path ? open_dir_made(l, dir) : open_in_root(l->u->rootfd, "");
	if (parent < 0)
		return fail_errno(err, "%s: /%s: its directory: %s", l->what, path, strerror(errno));
	if (!*path) /* the root's own entry: its metadata only */
		return set_meta(l, parent, "", e, S_IFDIR) < 0 ? fail_errno(err, "%s: /: %s", l->what, strerror(errno))
							       : 0;
	struct stat st;
	bool exists = fstatat(parent, base, &st, AT_SYMLINK_NOFOLLOW) == 0;
	if (exists && !(S_ISDIR(st.st_mode) && type == AE_IFDIR && !link) && rm_rf_at(parent, base) < 0)
		return fail_errno(err, "%s: /%s: replacing: %s", l->what, path, strerror(errno));
	json_object_set_new(l->made, path, json_true());
	int rc = 0;
	if (link) {
		_cleanup_free_ char *target = clean_name(link);
		if (!target || !*target)
			return fail_invalid(err, "%s: /%s: hard link to a refused name (%s)", l->what, path, link);
		const char *tslash = strrchr(target, '/');
		_cleanup_free_ char *tdir = tslash ? xstrndup(target, (size_t)(tslash - target)) : xstrdup("");
		_cleanup_close_ int tparent = open_in_root(l->u->rootfd, tdir);
		if (tparent < 0 || linkat(tparent, tslash ? tslash + 1 : target, parent, base, 0) < 0)
			return fail_errno(err, "%s: /%s: hard link to /%s: %s", l->what, path, target, strerror(errno));
		return 0;
	}
	switch (type) {
	case AE_IFREG: {
		_cleanup_close_ int fd =
			openat(parent, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 || write_data(l, a, fd, sym_archive_entry_size(e)) < 0) {
			if (errno == EFBIG)
				return fail_invalid(err, "%s: the image holds more than %llu bytes of files (/%s)",
						    l->what, (unsigned long long)l->u->max_bytes, path);
			return fail_errno(err, "%s: /%s: %s", l->what, path, strerror(errno));
		}
		break;
	}
	case AE_IFDIR:
		if (!exists)
			rc = mkdirat(parent, base, 0700);
		break;
	case AE_IFLNK:
		rc = symlinkat(sym_archive_entry_symlink(e) ? sym_archive_entry_symlink(e) : "", parent, base);
		break;
	case AE_IFCHR:
	case AE_IFBLK:
	case AE_IFIFO:
		if (!l->u->owners && type != AE_IFIFO)
			return fail_invalid(err, "%s: /%s: a device node, which only root can make", l->what, path);
		rc = mknodat(parent, base, type | 0600, sym_archive_entry_rdev(e));
		break;
	default:
		return fail_invalid(err, "%s: /%s: an entry of unknown type (0%o)", l->what, path, (unsigned)type);
	}
	if (rc < 0 || set_meta(l, parent, base, e, type) < 0)
		return fail_errno(err, "%s: /%s: %s", l->what, path, strerror(errno));
	return 0;
}

int unpack_layer(struct unpack *u, int fd, const char *what, struct hearth_error **err)
{
	if (lazy_archive(err) < 0)
		return -1;
	struct archive *a = sym_archive_read_new();
	sym_archive_read_support_filter_all(a);
	sym_archive_read_support_format_tar(a);
	struct layer l = { .u = u, .what = what, .made = json_object() };
	int rc = 0;
	if (sym_archive_read_open_fd(a, fd, 1 << 16) != ARCHIVE_OK) {
		rc = fail_invalid(err, "%s: not a tar layer: %s", what, sym_archive_error_string(a));
		goto out;
	}
	struct archive_entry *e;
	int r;
	while ((r = sym_archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		if (++u->entries > UNPACK_MAX_ENTRIES) {
			rc = fail_invalid(err, "%s: the image has more than %u entries", what, UNPACK_MAX_ENTRIES);
			goto out;
		}
		const char *raw = sym_archive_entry_pathname(e);
		_cleanup_free_ char *path = raw ? clean_name(raw) : NULL;
		if (!path) {
			rc = fail_invalid(err, "%s: an entry named outside the image (%s)", what, raw ? raw : "(none)");
			goto out;
		}
		if (apply_entry(&l, a, e, path, err) < 0) {
			rc = -1;
			goto out;
		}
	}
	if (r != ARCHIVE_EOF)
		rc = fail_invalid(err, "%s: a broken tar stream: %s", what, sym_archive_error_string(a));
out:
	sym_archive_read_free(a);
	json_decref(l.made);
	return rc;
}
