#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static _Noreturn void oom(void)
{
	fputs("hearth: out of memory\n", stderr);
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom();
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		oom();
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		oom();
	return p;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);
	if (!p)
		oom();
	return p;
}

char *xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);
	if (!p)
		oom();
	return p;
}

char *xvasprintf(const char *fmt, va_list ap)
{
	/* vasprintf is a GNU and BSD extension: measured, then written. */
	va_list again;
	va_copy(again, ap);
	int n = vsnprintf(NULL, 0, fmt, ap);
	if (n < 0)
		oom();
	char *s = xmalloc((size_t)n + 1);
	vsnprintf(s, (size_t)n + 1, fmt, again);
	va_end(again);
	return s;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = xvasprintf(fmt, ap);
	va_end(ap);
	return s;
}

void hearth_error_free(struct hearth_error *e)
{
	if (!e)
		return;
	free(e->message);
	free(e);
}

int hearth_fail(struct hearth_error **err, enum hearth_error_kind kind, int code, const char *fmt, ...)
{
	if (err && !*err) {
		struct hearth_error *e = xcalloc(1, sizeof(*e));
		va_list ap;
		va_start(ap, fmt);
		e->message = xvasprintf(fmt, ap);
		va_end(ap);
		e->kind = kind;
		e->code = code;
		*err = e;
	}
	return -1;
}

void hearth_error_pass(struct hearth_error **err, struct hearth_error *e)
{
	if (err && !*err)
		*err = e;
	else
		hearth_error_free(e);
}

void hearth_error_prefix(struct hearth_error **err, const char *fmt, ...)
{
	if (!err || !*err)
		return;
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *prefix = xvasprintf(fmt, ap);
	va_end(ap);
	char *m = xasprintf("%s%s", prefix, (*err)->message);
	free((*err)->message);
	(*err)->message = m;
}

int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*ret = v;
	return 0;
}

int parse_size(const char *s, uint64_t default_unit, uint64_t *ret)
{
	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	uint64_t unit = default_unit;
	if (*end) {
		switch (*end) {
		case 'K':
		case 'k':
			unit = 1ULL << 10;
			break;
		case 'M':
		case 'm':
			unit = 1ULL << 20;
			break;
		case 'G':
		case 'g':
			unit = 1ULL << 30;
			break;
		case 'T':
		case 't':
			unit = 1ULL << 40;
			break;
		default:
			return -1;
		}
		end++;
		if (*end == 'i' && end[1] == 'B')
			end += 2;
		else if (*end == 'B')
			end++;
		if (*end)
			return -1;
	}
	if (v > UINT64_MAX / unit)
		return -1;
	*ret = v * unit;
	return 0;
}

void strbuf_append(struct strbuf *sb, const char *s, size_t n)
{
	if (sb->len + n + 1 > sb->cap) {
		sb->cap = (sb->len + n + 1) * 2;
		sb->buf = xrealloc(sb->buf, sb->cap);
	}
	memcpy(sb->buf + sb->len, s, n);
	sb->len += n;
	sb->buf[sb->len] = '\0';
}

void strbuf_printf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *s = xvasprintf(fmt, ap);
	va_end(ap);
	strbuf_append(sb, s, strlen(s));
}

void strbuf_release(struct strbuf *sb)
{
	free(sb->buf);
	sb->buf = NULL;
	sb->len = sb->cap = 0;
}

int read_file_at(int dirfd, const char *path, size_t max, char **ret, size_t *ret_len)
{
	_cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	return read_fd(fd, max, ret, ret_len);
}

int read_fd(int fd, size_t max, char **ret, size_t *ret_len)
{
	struct strbuf sb = { 0 };
	char chunk[8192];
	ssize_t n;
	strbuf_append(&sb, "", 0);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0) {
		if (sb.len + (size_t)n > max) {
			strbuf_release(&sb);
			errno = EFBIG;
			return -1;
		}
		strbuf_append(&sb, chunk, (size_t)n);
	}
	if (n < 0) {
		int saved = errno;
		strbuf_release(&sb);
		errno = saved;
		return -1;
	}
	if (ret_len)
		*ret_len = sb.len;
	*ret = sb.buf;
	return 0;
}

int write_file_atomic_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode)
{
	_cleanup_free_ char *tmp = xasprintf(".%s.tmp.%d", name, (int)getpid());
	int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return -1;
	const char *p = data;
	size_t left = len;
	while (left > 0) {
		ssize_t n = write(fd, p, left);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		p += n;
		left -= (size_t)n;
	}
	if (fsync(fd) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	if (renameat(dirfd, tmp, dirfd, name) < 0) {
		fd = -1;
		goto fail;
	}
	return 0;
fail:;
	int saved = errno;
	if (fd >= 0)
		close(fd);
	unlinkat(dirfd, tmp, 0);
	errno = saved;
	return -1;
}

int rm_rf_at(int parent, const char *name)
{
	if (unlinkat(parent, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -1;
	int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -1;
	}
	struct dirent *e;
	int rc = 0;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (rm_rf_at(dirfd(d), e->d_name) < 0)
			rc = -1;
	}
	closedir(d);
	if (unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		rc = -1;
	return rc;
}

int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int rm_rf(const char *path)
{
	return rm_rf_at(AT_FDCWD, path);
}

int mkdir_p(const char *path, mode_t mode)
{
	_cleanup_free_ char *buf = xstrdup(path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

int64_t now_unix(void)
{
	return (int64_t)time(NULL);
}

int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

bool str_has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

void strv_add(struct strv *a, char *s)
{
	a->v = xrealloc(a->v, (a->n + 2) * sizeof(*a->v));
	a->v[a->n++] = s;
	a->v[a->n] = NULL;
}

void strv_addf(struct strv *a, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	strv_add(a, xvasprintf(fmt, ap));
	va_end(ap);
}

void strv_free(struct strv *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
	*a = (struct strv){ 0 };
}

uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return h;
}
