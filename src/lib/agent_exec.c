/* hearth's side of a session (docs/agent-protocol.md): HELLO, EXEC, then
 * stdin and signals out, output and the exit status in, over one stream.
 * The stream is non-blocking with a bounded buffer each way, and the
 * stream is read whatever else waits: a guest that cannot send its output
 * stops reading our stdin, and the two would otherwise wait on each other. */
#include "agent_exec.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#if HEARTH_LINUX
#include <sys/signalfd.h>
#endif
#include <termios.h>

#include "hearth/agent_proto.h"
#include "json.h"

#define SESSION_ID 1
#define HELLO_TIMEOUT_MS 5000
#define OUT_CAP (256 * 1024) /* stdin not yet sent before we stop reading more */

struct pump {
	int fd;
	struct strbuf out; /* frames not yet written */
	size_t out_off;
	uint8_t in[AP_HEADER + AP_MAX_PAYLOAD];
	size_t in_len;
};

static void put_frame(struct pump *p, uint8_t type, uint32_t session, const void *data, size_t len)
{
	uint8_t hdr[AP_HEADER];
	ap_header(hdr, type, session, (uint32_t)len);
	strbuf_append(&p->out, (const char *)hdr, sizeof(hdr));
	if (len)
		strbuf_append(&p->out, data, len);
}

static void put_u32(struct pump *p, uint8_t type, uint32_t v)
{
	uint8_t b[4];
	ap_put_u32(b, v);
	put_frame(p, type, type == AP_HELLO ? 0 : SESSION_ID, b, sizeof(b));
}

static int flush(struct pump *p, struct hearth_error **err)
{
	while (p->out_off < p->out.len) {
		ssize_t w = send(p->fd, p->out.buf + p->out_off, p->out.len - p->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (w < 0)
			return fail_errno(err, "agent: send: %s", strerror(errno));
		p->out_off += (size_t)w;
	}
	p->out.len = p->out_off = 0;
	return 0;
}

static void winsize_of(int fd, unsigned *rows, unsigned *cols)
{
	struct winsize ws = { 0 };
	if (fd >= 0 && ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col) {
		*rows = ws.ws_row;
		*cols = ws.ws_col;
	} else {
		*rows = 24;
		*cols = 80;
	}
}

static char *exec_request(const struct hearth_exec *ex)
{
	json_t *argv = json_array(), *env = json_array();
	for (char *const *a = ex->argv; *a; a++)
		json_array_append_new(argv, json_string(*a));
	for (char *const *e = ex->env; e && *e; e++)
		json_array_append_new(env, json_string(*e));
	unsigned rows, cols;
	winsize_of(ex->tty_fd, &rows, &cols);
	json_t *o = json_pack("{s:o, s:o, s:b, s:b, s:i, s:i}", "argv", argv, "env", env, "tty", ex->tty, "detach",
			      ex->detach, "rows", (int)rows, "cols", (int)cols);
	if (ex->cwd)
		json_object_set_new(o, "cwd", json_string(ex->cwd));
	if (ex->user)
		json_object_set_new(o, "user", json_string(ex->user));
	char *text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return text;
}

/* The next whole frame read: 1 with *F, 0 when more bytes are needed,
 * -1 when the guest broke the protocol. */
static int next_frame(struct pump *p, struct ap_frame *f, size_t *used, struct hearth_error **err)
{
	const char *why = NULL;
	int rc = ap_parse(p->in, p->in_len, f, used, &why);
	if (rc < 0)
		return fail_runtime(err, "agent: the guest sent a bad frame (%s)", why);
	return rc;
}

static void consume(struct pump *p, size_t used)
{
	memmove(p->in, p->in + used, p->in_len - used);
	p->in_len -= used;
}

/* Reads what the stream has; 0 at its end. */
static ssize_t fill(struct pump *p, struct hearth_error **err)
{
	ssize_t n = recv(p->fd, p->in + p->in_len, sizeof(p->in) - p->in_len, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 1;
	if (n < 0)
		return fail_errno(err, "agent: receive: %s", strerror(errno));
	p->in_len += (size_t)n;
	return n;
}

/* Waits for the agent's HELLO to the one queued first. */
static int hello(struct pump *p, struct hearth_error **err)
{
	if (flush(p, err) < 0)
		return -1;
	int64_t deadline = now_ms() + HELLO_TIMEOUT_MS;
	for (;;) {
		struct ap_frame f;
		size_t used;
		int rc = next_frame(p, &f, &used, err);
		if (rc < 0)
			return -1;
		if (rc == 1 && f.type == AP_HELLO) {
			consume(p, used);
			return 0;
		}
		if (rc == 1 && f.type == AP_ERROR)
			return fail_runtime(err, "agent: %.*s", (int)f.len, (const char *)f.payload);
		if (rc == 1)
			return fail_runtime(err, "agent: frame type %u before HELLO", f.type);
		int64_t left = deadline - now_ms();
		struct pollfd pfd = { p->fd, POLLIN, 0 };
		if (left <= 0 || poll(&pfd, 1, (int)left) != 1)
			return fail_runtime(err, "agent: no HELLO within %d s", HELLO_TIMEOUT_MS / 1000);
		ssize_t n = fill(p, err);
		if (n < 0)
			return -1;
		if (n == 0)
			return fail_runtime(err, "agent: the guest closed the session stream at HELLO");
	}
}

struct run {
	const struct hearth_exec *ex;
	int status;
	bool done, started;
	char *error; /* the guest's ERROR for our session */
};

/* Acts on a frame of our session; -1 with *err on a broken stream. */
static int on_frame(struct run *r, const struct ap_frame *f, struct hearth_error **err)
{
	if (f->session != SESSION_ID && f->type == AP_ERROR)
		return fail_runtime(err, "agent: %.*s", (int)f->len, (const char *)f->payload);
	if (f->session != SESSION_ID)
		return 0; /* not ours: nothing else runs on this stream */
	switch (f->type) {
	case AP_STARTED:
		r->started = true;
		r->done |= r->ex->detach;
		break;
	case AP_STDOUT:
	case AP_STDERR: {
		int fd = f->type == AP_STDOUT || r->ex->err_fd < 0 ? r->ex->out_fd : r->ex->err_fd;
		if (fd >= 0 && write_all(fd, f->payload, f->len) < 0)
			return fail_errno(err, "exec: writing the command's output: %s", strerror(errno));
		break;
	}
	case AP_ERROR:
		free(r->error);
		r->error = xstrndup((const char *)f->payload, f->len);
		break;
	case AP_EXIT:
		if (f->len != 4)
			return fail_runtime(err, "agent: an EXIT of %u bytes", f->len);
		r->status = (int)ap_get_u32(f->payload);
		r->done = true;
		break;
	default:
		return fail_runtime(err, "agent: unexpected frame type %u", f->type);
	}
	return 0;
}

static void forward_signal(struct pump *p, const struct hearth_exec *ex, unsigned signo)
{
	if (signo == SIGWINCH) {
		unsigned rows, cols;
		winsize_of(ex->tty_fd, &rows, &cols);
		uint8_t b[4] = { (uint8_t)(rows >> 8), (uint8_t)rows, (uint8_t)(cols >> 8), (uint8_t)cols };
		put_frame(p, AP_RESIZE, SESSION_ID, b, sizeof(b));
	} else {
		put_u32(p, AP_SIGNAL, signo);
	}
}

/* A pipe carries one byte per signal (a handler's self-pipe, on every
 * system); on Linux a signalfd its siginfo records. */
static void on_signal(struct pump *p, const struct hearth_exec *ex)
{
	struct stat st;
	if (fstat(ex->signal_fd, &st) == 0 && S_ISFIFO(st.st_mode)) {
		unsigned char sigs[64];
		ssize_t n;
		while ((n = read(ex->signal_fd, sigs, sizeof(sigs))) > 0)
			for (ssize_t i = 0; i < n; i++)
				forward_signal(p, ex, sigs[i]);
		return;
	}
#if HEARTH_LINUX
	struct signalfd_siginfo si;
	while (read(ex->signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		forward_signal(p, ex, si.ssi_signo);
#endif
}

int agent_exec_run(int fd, const struct hearth_exec *ex, int *ret_status, struct hearth_error **err)
{
	struct pump *p = xcalloc(1, sizeof(*p));
	p->fd = fd;
	struct run r = { .ex = ex, .status = -1 };
	/* HELLO, EXEC and an empty stdin go out together: one round trip. */
	put_u32(p, AP_HELLO, AP_VERSION);
	_cleanup_free_ char *req = exec_request(ex);
	put_frame(p, AP_EXEC, SESSION_ID, req, strlen(req));
	bool in_open = ex->in_fd >= 0 && !ex->detach;
	if (!in_open && !ex->detach)
		put_frame(p, AP_STDIN, SESSION_ID, NULL, 0);
	int rc = hello(p, err);
	uint8_t *buf = xmalloc(AP_MAX_PAYLOAD);
	bool eof = false;
	while (rc == 0 && !r.done) {
		if ((rc = flush(p, err)) < 0)
			break;
		struct ap_frame f;
		size_t used;
		int got = 0;
		while (!r.done && (got = next_frame(p, &f, &used, err)) == 1) {
			rc = on_frame(&r, &f, err);
			consume(p, used);
			if (rc < 0)
				break;
		}
		if (rc < 0 || got < 0 || r.done) {
			rc = rc < 0 || got < 0 ? -1 : 0;
			break;
		}
		if (eof) {
			rc = fail_runtime(err, "agent: the guest closed the session before the command ended");
			break;
		}
		bool room = p->out.len - p->out_off < OUT_CAP;
		struct pollfd pfd[3] = { { fd, (short)(POLLIN | (p->out.len > p->out_off ? POLLOUT : 0)), 0 },
					 { in_open && room ? ex->in_fd : -1, POLLIN, 0 },
					 { ex->signal_fd, POLLIN, 0 } };
		if (poll(pfd, 3, -1) < 0 && errno != EINTR) {
			rc = fail_errno(err, "exec: poll: %s", strerror(errno));
			break;
		}
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = fill(p, err);
			if (n < 0) {
				rc = -1;
				break;
			}
			eof = n == 0;
		}
		if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = read(ex->in_fd, buf, AP_MAX_PAYLOAD);
			if (n < 0 && errno == EINTR)
				continue;
			put_frame(p, AP_STDIN, SESSION_ID, buf, n > 0 ? (size_t)n : 0);
			in_open = n > 0;
		}
		if (pfd[2].revents & POLLIN)
			on_signal(p, ex);
	}
	free(buf);
	if (rc == 0 && !r.done)
		rc = fail_runtime(err, "agent: the session ended without an exit status");
	if (rc == 0 && r.error && !r.started) {
		/* It never ran: ERROR says why, EXIT 126 or 127 says which. */
		rc = fail_runtime(err, "%s", r.error);
	} else if (rc == 0 && r.error) {
		rc = fail_runtime(err, "agent: %s", r.error);
	}
	*ret_status = r.status;
	free(r.error);
	strbuf_release(&p->out);
	free(p);
	return rc;
}
