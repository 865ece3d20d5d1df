/* hearth logs: the console (two generations, rotated by the monitor) or
 * the VMM's own log, the last N lines across files, followed. */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "core.h"

/* Offset where the last N lines of FD's first END bytes begin. */
static off_t tail_offset(int fd, uint64_t n, off_t end)
{
	off_t pos = end;
	uint64_t seen = 0;
	char buf[4096];
	while (pos > 0) {
		size_t chunk = pos < (off_t)sizeof(buf) ? (size_t)pos : sizeof(buf);
		pos -= (off_t)chunk;
		if (pread(fd, buf, chunk, pos) != (ssize_t)chunk)
			return 0;
		for (size_t i = chunk; i-- > 0;) {
			if (buf[i] != '\n' || pos + (off_t)i == end - 1)
				continue;
			if (++seen == n)
				return pos + (off_t)i + 1;
		}
	}
	return 0;
}

/* Lines in FD, a last one without its newline counted too. */
static uint64_t fd_lines(int fd)
{
	char buf[65536], last = '\n';
	uint64_t n = 0;
	ssize_t r;
	for (off_t off = 0; (r = pread(fd, buf, sizeof(buf), off)) > 0; off += r) {
		for (ssize_t i = 0; i < r; i++)
			n += buf[i] == '\n';
		last = buf[r - 1];
	}
	return n + (last != '\n');
}

static bool same_file(int a, int b)
{
	struct stat sa, sb;
	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_ino == sb.st_ino && sa.st_dev == sb.st_dev;
}

/* Copies FROM (from its offset) to TO, at most LIMIT bytes. */
static int copy_upto(int from, int to, uint64_t limit)
{
	char buf[8192];
	ssize_t n;
	while (limit > 0 && (n = read(from, buf, limit < sizeof(buf) ? (size_t)limit : sizeof(buf))) > 0) {
		limit -= (uint64_t)n;
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(to, buf + off, (size_t)(n - off));
			if (w < 0)
				return -1;
			off += w;
		}
	}
	return limit > 0 && n < 0 ? -1 : 0;
}

static int copy_fd(int from, int to)
{
	return copy_upto(from, to, UINT64_MAX);
}

static bool guest_active(struct hearth_ctx *ctx, const char *name)
{
	struct hearth_record *r = NULL;
	if (guest_get(ctx, name, &r, NULL, NULL) < 0)
		return false;
	bool active = guest_status_active(r->status);
	record_free(r);
	return active;
}

int hearth_guest_logs(struct hearth_ctx *ctx, const char *name, uint64_t lines, bool follow, bool hypervisor, int fd,
		      struct hearth_error **err)
{
	struct guest g;
	const struct hearth_backend_ops *ops;
	if (guest_open(ctx, name, &g, &ops, err) < 0)
		return -1;
	if (ops->logs && !hypervisor) {
		int rc = ops->logs(&g, lines, follow, fd, err);
		guest_release(&g);
		return rc;
	}
	/* The monitor rotates the console log into console.log.1. */
	static const char *const console[] = { "console.log.1", "console.log", NULL };
	static const char *const vmm[] = { "hypervisor.log", NULL };
	const char *const *files = !hypervisor ? console : ops->hypervisor_logs ? ops->hypervisor_logs : vmm;
	/* Opened newest first: a rotation meanwhile shows as the same file
	 * under two names, read once. */
	int fds[4] = { -1, -1, -1, -1 };
	size_t n = 0;
	while (files[n] && n < ARRAY_SIZE(fds))
		n++;
	for (size_t i = n; i-- > 0;) {
		fds[i] = openat(g.dirfd, files[i], O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fds[i] < 0 && errno != ENOENT) {
			int rc = fail_errno(err, "logs: %s: %s", name, strerror(errno));
			for (size_t j = i + 1; j < n; j++)
				close(fds[j]);
			guest_release(&g);
			return rc;
		}
		if (fds[i] >= 0 && i + 1 < n && fds[i + 1] >= 0 && same_file(fds[i], fds[i + 1])) {
			close(fds[i]);
			fds[i] = -1;
		}
	}
	/* The last LINES span the files: what a newer one lacks comes from
	 * the end of the one before it. Every file but the last is printed
	 * whole up to there; the last is followed. */
	uint64_t want[4] = { 0 };
	for (size_t i = n, left = lines; i-- > 0;) {
		want[i] = left;
		if (lines > 0 && fds[i] >= 0) {
			uint64_t have = fd_lines(fds[i]);
			left = have >= left ? 0 : left - have;
		}
	}
	int log = -1, rc = 0;
	for (size_t i = 0; i < n; i++) {
		if (fds[i] < 0)
			continue;
		if (lines > 0 && want[i] == 0) {
			if (i + 1 < n) {
				close(fds[i]);
				continue;
			}
		}
		if (log >= 0)
			close(log);
		log = fds[i];
		/* As the file is now: a guest writing on adds nothing to the
		 * last N lines (follow reads on from here). */
		off_t end = lseek(log, 0, SEEK_END);
		off_t from = lines > 0 ? tail_offset(log, want[i], end) : 0;
		if (rc == 0 &&
		    (end < 0 || lseek(log, from, SEEK_SET) < 0 || copy_upto(log, fd, (uint64_t)(end - from)) < 0))
			rc = fail_errno(err, "logs: %s: %s", name, strerror(errno));
	}
	if (rc < 0) {
		if (log >= 0)
			close(log);
		guest_release(&g);
		return rc;
	}
	const char *newest = n ? files[n - 1] : NULL;
	const char *older = n > 1 ? files[n - 2] : NULL;
	int dirfd = g.dirfd;
	g.dirfd = -1; /* kept for following rotations */
	guest_release(&g);
	if (log < 0) {
		close(dirfd);
		return 0;
	}
	while (follow) {
		bool active = guest_active(ctx, name);
		sleep_ms(200);
		if (copy_fd(log, fd) < 0) {
			close(log);
			close(dirfd);
			return fail_errno(err, "logs: %s", strerror(errno));
		}
		/* Rotated: what we hold is the older file now, written up to
		 * the rotation and not past it: read to its end. Rotated twice
		 * since we looked: the generation between is read whole too.
		 * The new one goes on from its start. */
		int cur = openat(dirfd, newest, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (cur >= 0 && !same_file(cur, log)) {
			int between = older ? openat(dirfd, older, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
			if (between >= 0 && (same_file(between, log) || same_file(between, cur))) {
				close(between);
				between = -1;
			}
			int bad = copy_fd(log, fd) < 0 || (between >= 0 && copy_fd(between, fd) < 0);
			if (between >= 0)
				close(between);
			close(log);
			log = cur;
			if (bad) {
				close(log);
				close(dirfd);
				return fail_errno(err, "logs: %s", strerror(errno));
			}
			continue;
		}
		if (cur >= 0)
			close(cur);
		if (!active)
			break;
	}
	close(log);
	close(dirfd);
	return 0;
}
