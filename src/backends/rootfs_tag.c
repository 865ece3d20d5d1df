/* What names a rootfs's image in a container engine: a repository from
 * its file name and a tag from its content, shared by the backends that
 * hand a rootfs to an engine (Docker, Apple's container). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/state.h"
#include "rootfs_tag.h"

/* The image repository for a rootfs: PREFIX<its file name, sanitised>. */
char *rootfs_image_repo(const char *rootfs, const char *prefix)
{
	const char *base = strrchr(rootfs, '/');
	base = base ? base + 1 : rootfs;
	struct strbuf sb = { 0 };
	size_t plen = strlen(prefix);
	strbuf_append(&sb, prefix, plen);
	for (const char *c = base; *c && *c != '.'; c++) {
		char ch = *c >= 'A' && *c <= 'Z' ? (char)(*c - 'A' + 'a') : *c;
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
			ch = '-';
		strbuf_append(&sb, &ch, 1);
	}
	if (sb.len == plen)
		strbuf_append(&sb, "rootfs", 6);
	return sb.buf;
}

/* The file's identity as far as a hash of it can be reused: any write
 * moves its ctime, which no one sets back. */
static char *file_identity(const struct stat *st)
{
	return xasprintf("%llu %llu %lld %lld.%09ld %lld.%09ld", (unsigned long long)st->st_dev,
			 (unsigned long long)st->st_ino, (long long)st->st_size, (long long)st->st_mtim.tv_sec,
			 st->st_mtim.tv_nsec, (long long)st->st_ctim.tv_sec, st->st_ctim.tv_nsec);
}

/* The hash remembered for PATH in the state root's cache, if its file is
 * still the one hashed; writes it there with HASH set. */
static bool hash_memo(struct hearth_ctx *ctx, const char *path, const struct stat *st, char *hash, size_t len,
		      bool store)
{
	_cleanup_close_ int cache = state_cache_open(ctx);
	char name[40];
	snprintf(name, sizeof(name), "rootfs-%016llx", (unsigned long long)fnv1a(FNV_SEED, path, strlen(path)));
	_cleanup_free_ char *id = file_identity(st);
	if (store) {
		_cleanup_free_ char *text = xasprintf("%s\n%s\n%s\n", path, id, hash);
		return cache >= 0 && write_file_atomic_at(cache, name, text, strlen(text), 0600) == 0;
	}
	_cleanup_free_ char *text = NULL;
	if (cache < 0 || read_file_at(cache, name, 8192, &text, NULL) < 0)
		return false;
	_cleanup_free_ char *want = xasprintf("%s\n%s\n", path, id);
	if (!str_has_prefix(text, want))
		return false;
	const char *v = text + strlen(want);
	size_t n = strcspn(v, "\n");
	if (n == 0 || n >= len)
		return false;
	memcpy(hash, v, n);
	hash[n] = '\0';
	return true;
}

/* A content hash of the rootfs, when no Nix revision names it; hashed
 * once per version of the file (a 250 MB image takes a tenth of a second
 * or more, on every run otherwise). */
int rootfs_content_hash(struct hearth_ctx *ctx, const char *path, char *out, size_t len, struct hearth_error **err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail_errno(err, "rootfs: open %s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0)
		return fail_errno(err, "rootfs: %s: %s", path, strerror(errno));
	if (hash_memo(ctx, path, &st, out, len, false))
		return 0;
	/* FNV-1a 64 over 8-byte words, not fnv1a()'s bytes: a byte at a time
	 * cost a start half a second per 250 MB of rootfs. */
	uint64_t h = FNV_SEED;
	const size_t bufsize = 1 << 17;
	_cleanup_free_ uint64_t *buf = xmalloc(bufsize);
	ssize_t n;
	while ((n = read(fd, buf, bufsize)) > 0) {
		size_t words = (size_t)n / 8;
		for (size_t i = 0; i < words; i++)
			h = (h ^ buf[i]) * 1099511628211ULL;
		for (ssize_t i = (ssize_t)words * 8; i < n; i++)
			h = (h ^ ((unsigned char *)buf)[i]) * 1099511628211ULL;
	}
	if (n < 0)
		return fail_errno(err, "rootfs: read %s: %s", path, strerror(errno));
	snprintf(out, len, "%016llx", (unsigned long long)h);
	hash_memo(ctx, path, &st, out, len, true); /* not fatal: the next run hashes */
	return 0;
}
