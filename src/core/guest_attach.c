/* hearth attach: the guest's console, live, both ways: what the console
 * prints (from console.log, followed) and what the caller types (to the
 * monitor's console.sock, the VMM's serial input). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "core.h"

#define FOLLOW_MS 100
#define STATUS_EVERY_MS 1000

static int connect_console(int dirfd, struct hearth_error **err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/console.sock", dirfd);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return hearth_fail(err, HEARTH_ERR_RUNTIME, e, "attach: the console's input: %s (a guest started by an "
							       "older hearth has none: restart it)",
				   strerror(e));
	}
	return fd;
}

/* Copies what console.log gained since *OFF to OUT; follows a rotation. */
static void console_follow(int dirfd, int *log, ino_t *ino, off_t *off, int out)
{
	struct stat st;
	if (fstatat(dirfd, "console.log", &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_ino != *ino) {
		if (*log >= 0)
			close(*log);
		*log = openat(dirfd, "console.log", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		*ino = st.st_ino;
		*off = 0;
	}
	char buf[8192];
	ssize_t n;
	while (*log >= 0 && (n = pread(*log, buf, sizeof(buf), *off)) > 0) {
		if (write(out, buf, (size_t)n) < 0)
			return;
		*off += n;
	}
}

int hearth_guest_attach(struct hearth_ctx *ctx, const char *name, int in_fd, int out_fd, int detach_key,
			struct hearth_error **err)
{
	struct guest g;
	const struct hearth_backend_ops *ops;
	if (guest_open(ctx, name, &g, &ops, err) < 0)
		return -1;
	int rc = 0, sock = -1;
	if (ops->refresh)
		rc = fail_invalid(err, "%s: attach: the %s backend's console is its daemon's (hearth logs -f reads it)",
				  name, ops->name);
	else if (!guest_status_active(g.rec->status))
		rc = fail_conflict(err, "%s: guest is %s, not running", name, hearth_status_name(g.rec->status));
	else if ((sock = connect_console(g.dirfd, err)) < 0)
		rc = -1;
	if (rc < 0) {
		guest_release(&g);
		return -1;
	}
	/* From now on: what the console prints next. */
	int log = openat(g.dirfd, "console.log", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	ino_t ino = log >= 0 && fstat(log, &st) == 0 ? st.st_ino : 0;
	off_t off = log >= 0 ? lseek(log, 0, SEEK_END) : 0;
	int64_t next_status = now_ms() + STATUS_EVERY_MS;
	bool in_open = in_fd >= 0;
	for (;;) {
		struct pollfd p = { in_open ? in_fd : -1, POLLIN, 0 };
		int n = poll(&p, 1, FOLLOW_MS);
		if (n < 0 && errno != EINTR) {
			rc = fail_errno(err, "attach: poll: %s", strerror(errno));
			break;
		}
		if (p.revents & (POLLIN | POLLHUP)) {
			char buf[4096];
			ssize_t r = read(in_fd, buf, sizeof(buf));
			char *key = r > 0 && detach_key >= 0 ? memchr(buf, detach_key, (size_t)r) : NULL;
			size_t keep = key ? (size_t)(key - buf) : r > 0 ? (size_t)r : 0;
			if (keep && send(sock, buf, keep, MSG_NOSIGNAL) < 0) {
				rc = fail_errno(err, "%s: attach: the console's input: %s", name, strerror(errno));
				break;
			}
			if (key)
				break; /* detached; the guest runs on */
			if (r <= 0)
				in_open = false; /* nothing more to type: the output is followed on */
		}
		console_follow(g.dirfd, &log, &ino, &off, out_fd);
		if (now_ms() >= next_status) {
			struct hearth_record *rec = NULL;
			bool up = guest_record(ctx, g.dirfd, name, &rec, NULL) == 0 && guest_status_active(rec->status);
			record_free(rec);
			if (!up) {
				console_follow(g.dirfd, &log, &ino, &off, out_fd);
				break; /* the guest ended */
			}
			next_status = now_ms() + STATUS_EVERY_MS;
		}
	}
	if (log >= 0)
		close(log);
	close(sock);
	guest_release(&g);
	return rc;
}
