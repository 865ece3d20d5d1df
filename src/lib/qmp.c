#include "qmp.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#define QMP_LINE_MAX_BYTES (1 << 20)
#define QMP_TIMEOUT_MS 5000

/* Reads one JSON line; QMP separates messages with CRLF. */
static json_t *qmp_read(struct qmp_conn *c, struct hearth_error **err)
{
	int64_t deadline = now_ms() + QMP_TIMEOUT_MS;
	for (;;) {
		char *nl = c->in.buf ? memchr(c->in.buf, '\n', c->in.len) : NULL;
		if (nl) {
			size_t len = (size_t)(nl - c->in.buf) + 1;
			json_error_t jerr;
			json_t *msg = json_loadb(c->in.buf, len, 0, &jerr);
			memmove(c->in.buf, c->in.buf + len, c->in.len - len);
			c->in.len -= len;
			if (!msg) {
				fail_runtime(err, "qmp: bad JSON: %s", jerr.text);
				return NULL;
			}
			return msg;
		}
		int64_t left = deadline - now_ms();
		struct pollfd pfd = { c->fd, POLLIN, 0 };
		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0) {
			fail_runtime(err, "qmp: no answer within %d ms", QMP_TIMEOUT_MS);
			return NULL;
		}
		char buf[4096];
		ssize_t n = read(c->fd, buf, sizeof(buf));
		if (n <= 0) {
			fail_runtime(err, "qmp: connection closed");
			return NULL;
		}
		/* A QMP message is a line of a few KiB; a peer that never ends
		 * one is not QEMU. */
		if (c->in.len + (size_t)n > QMP_LINE_MAX_BYTES) {
			fail_runtime(err, "qmp: a message longer than %d KiB", QMP_LINE_MAX_BYTES >> 10);
			return NULL;
		}
		strbuf_append(&c->in, buf, (size_t)n);
	}
}

/* The answer to COMMAND: its "return" member, events skipped. */
static int qmp_reply(struct qmp_conn *c, const char *command, json_t **ret, struct hearth_error **err)
{
	for (;;) {
		json_t *msg = qmp_read(c, err);
		if (!msg)
			return -1;
		json_t *r = json_object_get(msg, "return");
		json_t *e = json_object_get(msg, "error");
		if (r) {
			if (ret)
				*ret = json_incref(r);
			json_decref(msg);
			return 0;
		}
		if (e) {
			const char *desc = json_string_value(json_object_get(e, "desc"));
			int rc = fail_runtime(err, "qmp: %s: %s", command, desc ? desc : "error");
			json_decref(msg);
			return rc;
		}
		json_decref(msg); /* an event */
	}
}

/* Sends a command and returns its "return" member, skipping events. */
int qmp_call(struct qmp_conn *c, const char *command, json_t *args, json_t **ret, struct hearth_error **err)
{
	json_t *req = json_pack("{s:s}", "execute", command);
	if (args)
		json_object_set_new(req, "arguments", args);
	char *text = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	size_t len = strlen(text);
	ssize_t w = write(c->fd, text, len);
	free(text);
	if (w != (ssize_t)len)
		return fail_errno(err, "qmp: write: %s", strerror(errno));
	return qmp_reply(c, command, ret, err);
}

int qmp_execute_fd(int fd, const char *command, json_t *args, json_t **ret, struct hearth_error **err)
{
	struct qmp_conn c = { .fd = fd };
	int rc = -1;
	json_t *greeting = qmp_read(&c, err);
	if (!greeting || qmp_call(&c, "qmp_capabilities", NULL, NULL, err) < 0)
		json_decref(args);
	else
		rc = qmp_call(&c, command, args, ret, err);
	json_decref(greeting);
	strbuf_release(&c.in);
	return rc;
}

static int qmp_connect(const char *path, struct hearth_error **err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return fail_runtime(err, "qmp: socket path too long (%s)", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return hearth_fail(err, HEARTH_ERR_RUNTIME, e, "qmp: connect %s: %s", path, strerror(e));
	}
	return fd;
}

int qmp_execute(const char *path, const char *command, json_t *args, json_t **ret, struct hearth_error **err)
{
	_cleanup_close_ int fd = qmp_connect(path, err);
	if (fd < 0) {
		json_decref(args);
		return -1;
	}
	return qmp_execute_fd(fd, command, args, ret, err);
}

int qmp_open(const char *path, struct qmp_conn *c, struct hearth_error **err)
{
	*c = (struct qmp_conn){ .fd = qmp_connect(path, err) };
	if (c->fd < 0)
		return -1;
	json_t *greeting = qmp_read(c, err);
	int rc = greeting ? qmp_call(c, "qmp_capabilities", NULL, NULL, err) : -1;
	json_decref(greeting);
	if (rc < 0)
		qmp_close(c);
	return rc;
}

void qmp_close(struct qmp_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	strbuf_release(&c->in);
}

int qmp_send_fd(struct qmp_conn *c, int fd, const char *name, struct hearth_error **err)
{
	/* The descriptor rides on the command's own bytes (SCM_RIGHTS). */
	json_t *req = json_pack("{s:s, s:{s:s}}", "execute", "getfd", "arguments", "fdname", name);
	char *text = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	struct iovec iov = { text, strlen(text) };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	memset(&u, 0, sizeof(u));
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	ssize_t w = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
	size_t len = iov.iov_len;
	free(text);
	if (w != (ssize_t)len)
		return fail_errno(err, "qmp: getfd: %s", strerror(errno));
	return qmp_reply(c, "getfd", NULL, err);
}
