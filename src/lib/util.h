/* Small helpers every libhearth file uses: allocation that aborts on
 * OOM, cleanup attributes, checked number parsing, atomic file writes. */
#ifndef HEARTH_UTIL_H
#define HEARTH_UTIL_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

#include "compat.h"
#include "hearth/error.h"

#define WUR __attribute__((warn_unused_result))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define SWAP(a, b)                         \
	do {                               \
		__typeof__(a) swap_ = (a); \
		(a) = (b);                 \
		(b) = swap_;               \
	} while (0)

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap);

static inline void freep(void *p)
{
	free(*(void **)p);
}
static inline void closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}
#define _cleanup_free_ __attribute__((cleanup(freep)))
#define _cleanup_close_ __attribute__((cleanup(closep)))

/* Hands ownership on: returns *P and leaves NULL (or -1) behind. */
static inline void *steal_ptr(void *pp)
{
	void **p = pp;
	void *v = *p;
	*p = NULL;
	return v;
}
#define steal(p) steal_ptr(&(p))
static inline int steal_fd(int *fd)
{
	int v = *fd;
	*fd = -1;
	return v;
}

/* Sets *ERR (when ERR is non-NULL and *ERR not yet set) and returns -1. */
int hearth_fail(struct hearth_error **err, enum hearth_error_kind kind, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Hands E (an error a function made for itself, to look at before
 * deciding) on to the caller's *ERR; frees it when the caller wants none
 * or already has one (the first cause wins). */
void hearth_error_pass(struct hearth_error **err, struct hearth_error *e);

/* Runs CALL, which may fail, for its effect alone: the caller has no use
 * for why it failed (CALL's error argument is NULL), and says so. */
#define IGNORE_FAILURE(call)      \
	do {                      \
		if ((call) < 0) { \
		}                 \
	} while (0)

/* Prefixes the message of an already-set *ERR with the formatted text. */
void hearth_error_prefix(struct hearth_error **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define fail_invalid(err, ...) hearth_fail(err, HEARTH_ERR_INVALID, EINVAL, __VA_ARGS__)
#define fail_conflict(err, ...) hearth_fail(err, HEARTH_ERR_CONFLICT, EBUSY, __VA_ARGS__)
#define fail_errno(err, ...) hearth_fail(err, HEARTH_ERR_RUNTIME, errno, __VA_ARGS__)
#define fail_runtime(err, ...) hearth_fail(err, HEARTH_ERR_RUNTIME, EIO, __VA_ARGS__)

/* Parses a decimal unsigned integer within [MIN, MAX]; -1 on junk. */
int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret) WUR;

/* Parses a size "N", "NK", "NM", "NG" (binary units); DEFAULT_UNIT is the
 * multiplier for a bare number. -1 on junk or overflow. */
int parse_size(const char *s, uint64_t default_unit, uint64_t *ret) WUR;

/* A growable string. */
struct strbuf {
	char *buf;
	size_t len, cap;
};
void strbuf_append(struct strbuf *sb, const char *s, size_t n);
void strbuf_printf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strbuf_release(struct strbuf *sb);

/* Reads a whole file (at most MAX bytes, else EFBIG) at PATH relative to
 * DIRFD. The result is NUL-terminated; *RET_LEN excludes the NUL. */
int read_file_at(int dirfd, const char *path, size_t max, char **ret, size_t *ret_len) WUR;
/* Same, from an open file descriptor. */
int read_fd(int fd, size_t max, char **ret, size_t *ret_len) WUR;

/* Writes DATA to NAME in DIRFD atomically: temp file (MODE from the
 * first byte), fsync, rename. */
int write_file_atomic_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode) WUR;

/* Writes all LEN bytes of DATA to FD (a short write goes on); -1 with
 * errno on failure. */
int write_all(int fd, const void *data, size_t len) WUR;

/* Removes PATH and everything below it without following symlinks. */
int rm_rf(const char *path);
/* The same for NAME under directory PARENT: with PARENT an fd that was
 * opened without following links, nothing outside it can go. */
int rm_rf_at(int parent, const char *name);

/* Creates PATH and its parents with MODE. */
int mkdir_p(const char *path, mode_t mode) WUR;

/* Seconds since the epoch, and monotonic milliseconds. */
int64_t now_unix(void);
int64_t now_ms(void);
void sleep_ms(long ms);

bool str_has_prefix(const char *s, const char *prefix);

/* FNV-1a, 64 bits, over LEN bytes of DATA, going on from H (first:
 * FNV_SEED). For names and identity, never for security. */
#define FNV_SEED 1469598103934665603ULL
uint64_t fnv1a(uint64_t h, const void *data, size_t len);

/* A growable, NULL-terminated argument vector that owns its strings:
 * the command lines hearth execs are built with it. */
struct strv {
	char **v;
	size_t n;
};
/* Appends S, taking ownership. */
void strv_add(struct strv *a, char *s);
void strv_addf(struct strv *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strv_free(struct strv *a);

#endif
