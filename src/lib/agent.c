#include "agent.h"

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#if HEARTH_LINUX
#include <linux/openat2.h>
#endif
#include <sys/un.h>

#define AGENT_TIMEOUT_MS 3000
#define LINE_MAX_BYTES 256

/* Reads one line (up to LINE_MAX_BYTES) from FD before DEADLINE, and
 * not a byte past it: what follows the line is the next exchange's (the
 * vsock "OK" line comes right before the agent's answer). Peeks, then
 * takes exactly the line. */
static int read_line(int fd, int64_t deadline, char **ret, struct hearth_error **err)
{
	struct strbuf sb = { 0 };
	strbuf_append(&sb, "", 0);
	int rc = 0;
	for (;;) {
		int64_t left = deadline - now_ms();
		struct pollfd p = { fd, POLLIN, 0 };
		if (left <= 0 || poll(&p, 1, (int)left) != 1) {
			rc = fail_runtime(err, "no answer within %d s", AGENT_TIMEOUT_MS / 1000);
			break;
		}
		char buf[LINE_MAX_BYTES];
		ssize_t n = recv(fd, buf, sizeof(buf) - sb.len, MSG_PEEK);
		if (n < 0) {
			rc = fail_errno(err, "read: %s", strerror(errno));
			break;
		}
		if (n == 0) {
			rc = fail_runtime(err, "closed without an answer");
			break;
		}
		char *nl = memchr(buf, '\n', (size_t)n);
		size_t take = nl ? (size_t)(nl - buf) + 1 : (size_t)n;
		if (recv(fd, buf, take, 0) != (ssize_t)take) {
			rc = fail_errno(err, "read: %s", strerror(errno));
			break;
		}
		strbuf_append(&sb, buf, nl ? take - 1 : take);
		if (nl) {
			*ret = steal(sb.buf);
			return 0;
		}
		if (sb.len >= LINE_MAX_BYTES - 1) {
			rc = fail_runtime(err, "answer longer than %d bytes", LINE_MAX_BYTES);
			break;
		}
	}
	strbuf_release(&sb);
	return rc;
}

static int send_all(int fd, const char *s, struct hearth_error **err)
{
	size_t len = strlen(s);
	if (send(fd, s, len, MSG_NOSIGNAL) != (ssize_t)len)
		return fail_errno(err, "write: %s", strerror(errno));
	return 0;
}

int agent_vsock_connect(int fd, int port, struct hearth_error **err)
{
	_cleanup_free_ char *connect = xasprintf("CONNECT %d\n", port);
	_cleanup_free_ char *ok = NULL;
	if (send_all(fd, connect, err) < 0 || read_line(fd, now_ms() + AGENT_TIMEOUT_MS, &ok, err) < 0)
		return -1;
	if (!str_has_prefix(ok, "OK "))
		return fail_runtime(err, "vsock CONNECT %d refused (%s)", port, ok);
	return 0;
}

int agent_exchange(int fd, const struct hearth_record *rec, const char *cmd, char **ret_reply,
		   struct hearth_error **err)
{
	int64_t deadline = now_ms() + AGENT_TIMEOUT_MS;
	if (rec->vsock_cid > 0 && agent_vsock_connect(fd, HEARTH_AGENT_VSOCK_PORT, err) < 0)
		return -1;
	_cleanup_free_ char *line = xasprintf("%s\n", cmd);
	if (send_all(fd, line, err) < 0)
		return -1;
	if (ret_reply)
		return read_line(fd, deadline, ret_reply, err);
	/* Hold the connection a moment: closing it at once can drop the
	 * line before a virtio-serial port has read it. */
	sleep_ms(100);
	return 0;
}

/* PATH inside a container's root, "/proc/PID/root/REST": the guest owns
 * every component of REST, so it is resolved inside that root (a link
 * there cannot lead out to the host), checked to be a socket, and
 * connected to through its descriptor, never by the name again. */
static int connect_in_root(int fd, const char *path, struct sockaddr_un *sa)
{
#if !HEARTH_LINUX
	(void)fd, (void)path, (void)sa; /* a container's /proc root is Linux's */
	errno = ENOTSUP;
	return -1;
#else
	const char *rest = strstr(path + strlen("/proc/"), "/root/");
	if (!rest)
		return -1;
	_cleanup_free_ char *root = xstrndup(path, (size_t)(rest - path) + strlen("/root"));
	_cleanup_close_ int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return -1;
	struct open_how how = { .flags = O_PATH | O_NOFOLLOW | O_CLOEXEC,
				.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
	_cleanup_close_ int sock = (int)syscall(SYS_openat2, rootfd, rest + strlen("/root/"), &how, sizeof(how));
	struct stat st;
	if (sock < 0 || fstat(sock, &st) < 0)
		return -1;
	if (!S_ISSOCK(st.st_mode)) {
		errno = ENOTSOCK;
		return -1;
	}
	snprintf(sa->sun_path, sizeof(sa->sun_path), "/proc/self/fd/%d", sock);
	return connect(fd, (struct sockaddr *)sa, sizeof(*sa));
#endif
}

int agent_connect(const char *path, struct hearth_error **err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (!path || strlen(path) >= sizeof(sa.sun_path))
		return fail_invalid(err, "agent: no channel (%s)", path ? path : "none recorded");
	int fd = socket_cloexec(AF_UNIX, SOCK_STREAM, 0, false);
	int rc = -1;
	if (fd >= 0 && str_has_prefix(path, "/proc/")) {
		rc = connect_in_root(fd, path, &sa);
	} else if (fd >= 0) {
		memcpy(sa.sun_path, path, strlen(path) + 1);
		rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	}
	if (rc < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return hearth_fail(err, HEARTH_ERR_RUNTIME, e, "%s: %s", path, strerror(e));
	}
	return fd;
}

int agent_request(const struct hearth_record *rec, const char *cmd, char **ret_reply, struct hearth_error **err)
{
	if (!rec->guest_channel)
		return fail_invalid(err, "%s: the guest has no agent channel", rec->name);
	struct hearth_error *e = NULL;
	_cleanup_close_ int fd = agent_connect(rec->guest_channel, &e);
	if (fd < 0) {
		hearth_error_prefix(&e, "%s: agent ", rec->name);
		hearth_error_pass(err, e);
		return -1;
	}
	if (agent_exchange(fd, rec, cmd, ret_reply, err) < 0) {
		hearth_error_prefix(err, "%s: agent %s: ", rec->name, cmd);
		return -1;
	}
	return 0;
}
