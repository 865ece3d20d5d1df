/* The copy stream (docs/agent-protocol.md): record := u32 header length
 * (big-endian, 1..8192), a JSON header {"path", "type": "file" | "dir" |
 * "symlink", "mode", "uid", "gid", "size", "target"}, then SIZE content
 * bytes for a file; the stream ends with a length of 0. Compiled into
 * libhearth and hearth-init: libc and jansson only. */
#include "hearth/copy_stream.h"
#include "compat.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK 65536

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* libhearth's own (util.c) is not here: this file is hearth-init's too. */
static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Reads exactly LEN bytes; 0 at a clean end before the first byte. */
static ssize_t read_all(int fd, void *data, size_t len)
{
	char *p = data;
	size_t got = 0;
	while (got < len) {
		ssize_t r = read(fd, p + got, len - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			return got == 0 ? 0 : -1;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

/* ---- writing ---- */

static int put_header(int fd, json_t *h)
{
	char *text = json_dumps(h, JSON_COMPACT);
	json_decref(h);
	if (!text)
		return -1;
	size_t n = strlen(text);
	uint8_t len[4] = { (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n };
	int rc = n > CS_HEADER_MAX || write_all(fd, len, 4) < 0 || write_all(fd, text, n) < 0 ? -1 : 0;
	free(text);
	return rc;
}

struct walk {
	int out;
	char *err;
	size_t errlen;
	char path[CS_PATH_MAX];
};

static int walk_entry(struct walk *w, int dirfd, const char *name, const char *label, size_t plen, int depth);

static int walk_dir(struct walk *w, int fd, size_t plen, int depth)
{
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return fail(w->err, w->errlen, "%s: %s", w->path, strerror(errno));
	}
	int rc = 0;
	struct dirent *e;
	while (rc == 0 && (e = readdir(d)))
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			rc = walk_entry(w, dirfd(d), e->d_name, e->d_name, plen, depth + 1);
	closedir(d);
	return rc;
}

/* NAME in DIRFD, called LABEL in the stream. */
static int walk_entry(struct walk *w, int dirfd, const char *name, const char *label, size_t plen, int depth)
{
	int n = snprintf(w->path + plen, sizeof(w->path) - plen, "%s%s", plen ? "/" : "", label);
	if (n < 0 || (size_t)n >= sizeof(w->path) - plen || depth > CS_DEPTH_MAX)
		return fail(w->err, w->errlen, "%s: too long or too deep", w->path);
	size_t len = plen + (size_t)n;
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return fail(w->err, w->errlen, "%s: %s", w->path, strerror(errno));
	json_t *h = json_pack("{s:s, s:i, s:I, s:I}", "path", w->path, "mode", (int)(st.st_mode & 07777), "uid",
			      (json_int_t)st.st_uid, "gid", (json_int_t)st.st_gid);
	if (S_ISLNK(st.st_mode)) {
		char target[CS_PATH_MAX];
		ssize_t t = readlinkat(dirfd, name, target, sizeof(target) - 1);
		if (t < 0) {
			json_decref(h);
			return fail(w->err, w->errlen, "%s: %s", w->path, strerror(errno));
		}
		target[t] = '\0';
		json_object_set_new(h, "type", json_string("symlink"));
		json_object_set_new(h, "target", json_string(target));
		return put_header(w->out, h) < 0 ? fail(w->err, w->errlen, "writing the stream failed") : 0;
	}
	if (S_ISDIR(st.st_mode)) {
		int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		json_object_set_new(h, "type", json_string("dir"));
		if (fd < 0 || put_header(w->out, h) < 0) {
			if (fd >= 0)
				close(fd);
			return fail(w->err, w->errlen, "%s: %s", w->path, strerror(errno));
		}
		return walk_dir(w, fd, len, depth);
	}
	if (!S_ISREG(st.st_mode)) {
		json_decref(h);
		return 0; /* devices, pipes and sockets are not copied */
	}
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		json_decref(h);
		return fail(w->err, w->errlen, "%s: %s", w->path, strerror(errno));
	}
	json_object_set_new(h, "type", json_string("file"));
	json_object_set_new(h, "size", json_integer((json_int_t)st.st_size));
	int rc = put_header(w->out, h) < 0 ? -1 : 0;
	/* Exactly the size announced: a file that grows meanwhile is cut, one
	 * that shrinks is padded with zeros, so the stream stays whole. */
	char *buf = malloc(CHUNK);
	off_t left = st.st_size;
	while (rc == 0 && buf && left > 0) {
		size_t want = left < CHUNK ? (size_t)left : CHUNK;
		ssize_t r = read(fd, buf, want);
		if (r <= 0) {
			memset(buf, 0, want);
			r = (ssize_t)want;
		}
		rc = write_all(w->out, buf, (size_t)r);
		left -= r;
	}
	free(buf);
	close(fd);
	return rc < 0 || !buf ? fail(w->err, w->errlen, "%s: writing the stream failed", w->path) : 0;
}

int cs_write_tree(int fd, const char *src, const char *root_name, char *err, size_t errlen)
{
	struct walk *w = calloc(1, sizeof(*w));
	if (!w)
		return fail(err, errlen, "out of memory");
	*w = (struct walk){ .out = fd, .err = err, .errlen = errlen };
	/* SRC's parent is followed (it is the user's path); SRC itself is not. */
	char *copy = strdup(src);
	char *slash = copy ? strrchr(copy, '/') : NULL;
	const char *name = slash ? slash + 1 : copy;
	const char *parent = slash ? (slash == copy ? "/" : copy) : ".";
	if (slash)
		*slash = '\0';
	int rc;
	if (!copy || !*name) {
		rc = fail(err, errlen, "%s: not a path to a file or directory", src);
	} else {
		int dirfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dirfd < 0) {
			rc = fail(err, errlen, "%s: %s", src, strerror(errno));
		} else {
			rc = walk_entry(w, dirfd, name, root_name ? root_name : name, 0, 0);
			close(dirfd);
		}
	}
	uint8_t end[4] = { 0 };
	if (rc == 0 && write_all(fd, end, 4) < 0)
		rc = fail(err, errlen, "writing the stream failed");
	free(copy);
	free(w);
	return rc;
}

/* ---- reading ---- */

struct dir_mode {
	char *path;
	mode_t mode;
};

struct reader {
	int in, base;
	bool as_root, keep_setid;
	char *err;
	size_t errlen;
	char root[256]; /* the stream's first name */
	const char *rename;
	struct dir_mode *dirs;
	size_t n_dirs;
};

/* PATH (checked: relative, no "." or "..") beneath BASE, one name at a
 * time, each opened from the last one's descriptor and none followed if
 * it is a link: what openat2's RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS
 * does, on every kernel (and under valgrind). A link on the way fails
 * with ELOOP. */
static int open_beneath(int base, const char *path, int flags)
{
	if (!*path)
		return openat(base, ".", flags | O_CLOEXEC);
	int fd = openat(base, ".", O_PATH_OR_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char name[CS_PATH_MAX + 256];
	snprintf(name, sizeof(name), "%s", path);
	for (char *c = name, *next; fd >= 0 && *c; c = next) {
		next = strchr(c, '/');
		if (next)
			*next++ = '\0';
		else
			next = c + strlen(c);
		bool last = !*next;
		int nfd = openat(fd, c, last ? flags | O_NOFOLLOW | O_CLOEXEC : O_PATH_OR_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		struct stat st;
		int e = errno;
		if (nfd < 0 && (e == ENOTDIR || e == ELOOP) && fstatat(fd, c, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISLNK(st.st_mode))
			e = ELOOP;
		close(fd);
		fd = nfd;
		errno = e;
	}
	return fd;
}

/* Checks NAME, a stream's path, and makes in OUT the path to create:
 * relative, no empty, "." or ".." component, under the stream's root. */
static int check_name(struct reader *r, const char *name, size_t len, char *out, size_t outlen)
{
	if (len == 0 || len != strlen(name) || len >= CS_PATH_MAX || name[0] == '/')
		return fail(r->err, r->errlen, "refused a name that is empty, absolute or too long (%.200s)", name);
	int depth = 0;
	for (const char *c = name; *c;) {
		const char *end = strchr(c, '/');
		size_t n = end ? (size_t)(end - c) : strlen(c);
		if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return fail(r->err, r->errlen, "refused a name that leaves its root (%.200s)", name);
		if (++depth > CS_DEPTH_MAX)
			return fail(r->err, r->errlen, "refused a name too deep (%.200s)", name);
		c = end ? end + 1 : c + n;
	}
	size_t first = strcspn(name, "/");
	if (!r->root[0]) {
		if (name[first] || first >= sizeof(r->root))
			return fail(r->err, r->errlen, "the stream does not begin with its root (%.200s)", name);
		memcpy(r->root, name, first + 1);
	} else if (first != strlen(r->root) || strncmp(name, r->root, first) != 0) {
		return fail(r->err, r->errlen, "refused a name outside the stream's root %s (%.200s)", r->root, name);
	}
	int n = snprintf(out, outlen, "%s%s", r->rename ? r->rename : r->root, name + first);
	if (n < 0 || (size_t)n >= outlen)
		return fail(r->err, r->errlen, "name too long (%.200s)", name);
	return 0;
}

/* The parent of PATH (beneath the destination, no link followed) and
 * PATH's last name. */
static int open_parent(struct reader *r, char *path, const char **ret_last)
{
	char *slash = strrchr(path, '/');
	*ret_last = slash ? slash + 1 : path;
	if (slash)
		*slash = '\0';
	int fd = open_beneath(r->base, slash ? path : "", O_PATH_OR_RDONLY | O_DIRECTORY);
	if (slash)
		*slash = '/';
	if (fd < 0 && (errno == ELOOP || errno == EXDEV))
		return fail(r->err, r->errlen, "refused a name through a link (%.200s)", path);
	if (fd < 0)
		return fail(r->err, r->errlen, "%s: its directory: %s", path, strerror(errno));
	return fd;
}

static int copy_content(struct reader *r, int fd, json_int_t size, const char *path)
{
	char *buf = malloc(CHUNK);
	int rc = buf ? 0 : fail(r->err, r->errlen, "out of memory");
	while (rc == 0 && size > 0) {
		size_t want = size < CHUNK ? (size_t)size : CHUNK;
		if (read_all(r->in, buf, want) != (ssize_t)want)
			rc = fail(r->err, r->errlen, "%s: the stream ended inside the file", path);
		else if (fd >= 0 && write_all(fd, buf, want) < 0)
			rc = fail(r->err, r->errlen, "%s: %s", path, strerror(errno));
		size -= (json_int_t)want;
	}
	free(buf);
	return rc;
}

static int make_entry(struct reader *r, json_t *h)
{
	json_t *jpath = json_object_get(h, "path");
	const char *name = json_string_value(jpath), *type = json_string_value(json_object_get(h, "type"));
	json_int_t mode = json_integer_value(json_object_get(h, "mode"));
	json_int_t uid = json_integer_value(json_object_get(h, "uid")), gid = json_integer_value(json_object_get(h, "gid"));
	json_int_t size = json_integer_value(json_object_get(h, "size"));
	if (!name || !type || mode < 0 || mode > 07777 || uid < 0 || gid < 0 || uid > UINT32_MAX - 1 ||
	    gid > UINT32_MAX - 1 || size < 0)
		return fail(r->err, r->errlen, "a record that is not valid");
	if (!r->keep_setid)
		mode &= ~(json_int_t)(S_ISUID | S_ISGID);
	char path[CS_PATH_MAX + 256];
	if (check_name(r, name, json_string_length(jpath), path, sizeof(path)) < 0)
		return -1;
	const char *last;
	int parent = open_parent(r, path, &last);
	if (parent < 0)
		return -1;
	int rc = 0;
	if (strcmp(type, "dir") == 0) {
		struct stat st;
		if (mkdirat(parent, last, 0700) < 0 &&
		    !(errno == EEXIST && fstatat(parent, last, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)))
			rc = fail(r->err, r->errlen, "%s: %s", path, strerror(errno));
		if (rc == 0 && r->as_root && fchownat(parent, last, (uid_t)uid, (gid_t)gid, AT_SYMLINK_NOFOLLOW) < 0)
			rc = fail(r->err, r->errlen, "%s: chown: %s", path, strerror(errno));
		if (rc == 0) {
			/* Made writable now, given its mode once all is inside. */
			struct dir_mode *d = realloc(r->dirs, (r->n_dirs + 1) * sizeof(*d));
			if (!d || !(d[r->n_dirs].path = strdup(path))) {
				r->dirs = d ? d : r->dirs;
				rc = fail(r->err, r->errlen, "out of memory");
			} else {
				r->dirs = d;
				d[r->n_dirs++].mode = (mode_t)mode;
			}
		}
	} else if (strcmp(type, "symlink") == 0) {
		const char *target = json_string_value(json_object_get(h, "target"));
		/* Made, never followed: every later open refuses links. */
		if (!target || !*target || strlen(target) >= CS_PATH_MAX)
			rc = fail(r->err, r->errlen, "%s: a link without a valid target", path);
		else if (symlinkat(target, parent, last) < 0)
			rc = fail(r->err, r->errlen, "%s: %s", path, strerror(errno));
		else if (r->as_root && fchownat(parent, last, (uid_t)uid, (gid_t)gid, AT_SYMLINK_NOFOLLOW) < 0)
			rc = fail(r->err, r->errlen, "%s: chown: %s", path, strerror(errno));
	} else if (strcmp(type, "file") == 0) {
		int fd = openat(parent, last, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0600);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
			rc = fail(r->err, r->errlen, "%s: %s", path, fd < 0 ? strerror(errno) : "not a regular file");
		if (rc == 0)
			rc = copy_content(r, fd, size, path);
		if (rc == 0 && r->as_root && fchown(fd, (uid_t)uid, (gid_t)gid) < 0)
			rc = fail(r->err, r->errlen, "%s: chown: %s", path, strerror(errno));
		if (rc == 0 && fchmod(fd, (mode_t)mode) < 0)
			rc = fail(r->err, r->errlen, "%s: chmod: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
	} else {
		rc = fail(r->err, r->errlen, "%s: unknown type (%.20s)", path, type);
	}
	close(parent);
	return rc;
}

int cs_destination(const char *target, char **ret_dir, char **ret_rename, char *err, size_t errlen)
{
	struct stat st;
	*ret_dir = *ret_rename = NULL;
	if (stat(target, &st) == 0 && S_ISDIR(st.st_mode)) {
		*ret_dir = strdup(target);
		return *ret_dir ? 0 : fail(err, errlen, "out of memory");
	}
	char *copy = strdup(target);
	if (!copy)
		return fail(err, errlen, "out of memory");
	size_t n = strlen(copy);
	while (n > 1 && copy[n - 1] == '/')
		copy[--n] = '\0';
	char *slash = strrchr(copy, '/');
	const char *name = slash ? slash + 1 : copy;
	if (!*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
		free(copy);
		return fail(err, errlen, "%s: not a directory, nor a new name in one", target);
	}
	*ret_rename = strdup(name);
	if (slash)
		*slash = '\0';
	*ret_dir = strdup(slash ? (slash == copy ? "/" : copy) : ".");
	free(copy);
	return *ret_dir && *ret_rename ? 0 : fail(err, errlen, "out of memory");
}

int cs_read_tree(int fd, const char *dst, const char *rename, bool trusted, char *err, size_t errlen)
{
	struct reader r = { .in = fd, .as_root = geteuid() == 0, .keep_setid = trusted, .err = err, .errlen = errlen,
			    .rename = rename };
	if (rename && (!*rename || strchr(rename, '/') || strcmp(rename, ".") == 0 || strcmp(rename, "..") == 0))
		return fail(err, errlen, "%s: not a name for the copy", rename);
	r.base = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r.base < 0)
		return fail(err, errlen, "%s: %s", dst, strerror(errno));
	char *text = malloc(CS_HEADER_MAX + 1);
	int rc = text ? 0 : fail(err, errlen, "out of memory");
	while (rc == 0) {
		uint8_t b[4];
		if (read_all(fd, b, 4) != 4) {
			rc = fail(err, errlen, "the stream ended before its end mark");
			break;
		}
		uint32_t len = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
		if (len == 0)
			break;
		if (len > CS_HEADER_MAX) {
			rc = fail(err, errlen, "a record header of %u bytes (at most %d)", len, CS_HEADER_MAX);
			break;
		}
		if (read_all(fd, text, len) != (ssize_t)len) {
			rc = fail(err, errlen, "the stream ended inside a record");
			break;
		}
		json_t *h = json_loadb(text, len, 0, NULL);
		rc = json_is_object(h) ? make_entry(&r, h) : fail(err, errlen, "a record header that is not JSON");
		json_decref(h);
	}
	if (rc == 0 && !r.root[0])
		rc = fail(err, errlen, "the stream carried nothing");
	/* Directory modes last, deepest first: a read-only one is filled by then. */
	for (size_t i = r.n_dirs; i-- > 0;) {
		int dfd = open_beneath(r.base, r.dirs[i].path, O_RDONLY | O_DIRECTORY);
		if (dfd >= 0) {
			if (fchmod(dfd, r.dirs[i].mode) < 0 && rc == 0)
				rc = fail(err, errlen, "%s: chmod: %s", r.dirs[i].path, strerror(errno));
			close(dfd);
		}
		free(r.dirs[i].path);
	}
	free(r.dirs);
	free(text);
	close(r.base);
	return rc;
}
