/* hearth attach: the guest's console, live, both ways: what the console
 * prints (from console.log, followed) and what the caller types (to the
 * monitor's console.sock, the VMM's serial input). A daemon's guest
 * (docker) is attached read-only: its output as the daemon streams it;
 * its workload has no stdin to type to (as `docker run -d` without -i). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <signal.h>

#include "core.h"

#define FOLLOW_MS 100
#define STATUS_EVERY_MS 1000

static int connect_console(int dirfd, struct hearth_error **err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/console.sock", dirfd);
	int fd = socket_cloexec(AF_UNIX, SOCK_STREAM, 0, false);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return hearth_fail(err, HEARTH_ERR_RUNTIME, e,
				   "attach: the console's input: %s (a guest started by an "
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

/* Reads IN_FD until the detach key (typed bytes have nowhere to go) while
 * a child follows the daemon's log stream from now into OUT_FD. */
static int attach_daemon(struct guest *g, const struct hearth_backend_ops *ops, int in_fd, int out_fd, int detach_key,
			 struct hearth_error **err)
{
	pid_t child = fork();
	if (child < 0)
		return fail_errno(err, "attach: fork: %s", strerror(errno));
	if (child == 0) {
		struct hearth_error *e = NULL;
		_exit(ops->logs(g, LOGS_FROM_NOW, true, out_fd, &e) < 0 ? 1 : 0);
	}
	bool in_open = in_fd >= 0;
	int status = 0;
	for (;;) {
		pid_t w = waitpid(child, &status, WNOHANG);
		if (w == child)
			break; /* the stream ended: the guest stopped */
		struct pollfd p = { in_open ? in_fd : -1, POLLIN, 0 };
		if (poll(&p, 1, FOLLOW_MS) < 0 && errno != EINTR)
			break;
		if (!(p.revents & (POLLIN | POLLHUP)))
			continue;
		char buf[4096];
		ssize_t r = read(in_fd, buf, sizeof(buf));
		if (r > 0 && detach_key >= 0 && memchr(buf, detach_key, (size_t)r)) {
			kill(child, SIGTERM);
			waitpid(child, &status, 0);
			return 0; /* detached; the guest runs on */
		}
		if (r <= 0)
			in_open = false;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	return fail_runtime(err, "%s: attach: the %s daemon's log stream failed", g->name, ops->name);
}

int hearth_guest_attach(struct hearth_ctx *ctx, const char *name, int in_fd, int out_fd, int detach_key,
			struct hearth_error **err)
{
	struct guest g;
	const struct hearth_backend_ops *ops;
	if (guest_open(ctx, name, &g, &ops, err) < 0)
		return -1;
	int rc = 0, sock = -1;
	if (!guest_status_active(g.rec->status))
		rc = fail_conflict(err, "%s: guest is %s, not running", name, hearth_status_name(g.rec->status));
	else if (ops->logs) /* a daemon's log stream, not console.log */
		rc = attach_daemon(&g, ops, in_fd, out_fd, detach_key, err);
	else if ((sock = connect_console(g.dirfd, err)) < 0)
		rc = -1;
	if (rc < 0 || sock < 0) {
		guest_release(&g);
		return rc < 0 ? -1 : 0; /* a daemon's attach is done */
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
			bool up = guest_record(ctx, g.dirfd, name, &rec, NULL, NULL) == 0 && guest_status_active(rec->status);
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
