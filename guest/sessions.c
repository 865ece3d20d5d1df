/* The agent's session streams in the guest: frames in (HELLO, EXEC,
 * STDIN, RESIZE, SIGNAL, CLOSE), commands run, frames out (STARTED,
 * STDOUT, STDERR, EXIT, ERROR). Every fd is non-blocking and every
 * buffer bounded: PID 1 must never wait on a host that stopped reading. */
#include "sessions.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <jansson.h>
#include <linux/vm_sockets.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "hearth/agent_proto.h"
#include "hearth/contract.h"

#define MAX_STREAMS 24
#define MAX_SESSIONS 64
#define OUT_CAP (256 * 1024) /* unsent bytes per stream before outputs wait */
#define IN_CAP (256 * 1024)  /* unwritten stdin per session before the stream waits */
/* A session port without a host reads as hung up: it is looked at again
 * when the port's SIGIO says a host came, or after this long. */
#define HUP_RETRY_MS 1000
#define ARGV_MAX 256

struct buf {
	uint8_t *data;
	size_t len, cap;
};

struct stream {
	int fd; /* -1: free */
	bool port;    /* a virtio-serial port: reset when its host goes, never closed */
	bool greeted; /* HELLO seen */
	bool closing; /* end once OUT is sent; read nothing more */
	long long hup_until; /* a port with no host: not polled before this (ms) */
	size_t in_len;
	uint8_t in[AP_HEADER + AP_MAX_PAYLOAD];
	struct buf out;
};

struct session {
	int stream; /* index of its stream, -1: free */
	uint32_t id;
	pid_t pid;
	int in_fd;  /* the command's stdin, or the terminal's master; -1 once closed */
	int out_fd; /* stdout (or the master); -1 at its end */
	int err_fd;
	bool tty, exited, eof_pending;
	int code;
	struct buf in; /* stdin not yet written */
};

static struct stream streams[MAX_STREAMS];
static struct session sessions[MAX_SESSIONS];
static int listener = -1;
static char **base_env;
static bool no_exec; /* the fuzzer's: commands are refused, never run */

/* What each pollfd of the last sessions_pollfds call stands for. */
enum tag_kind { TAG_LISTENER, TAG_STREAM, TAG_OUT, TAG_ERR, TAG_IN };
static struct {
	enum tag_kind kind;
	int index;
} tags[SESSIONS_POLLFDS];

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void buf_put(struct buf *b, const void *data, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n)
			cap *= 2;
		uint8_t *p = realloc(b->data, cap);
		if (!p)
			abort(); /* PID 1 out of memory: nothing sane is left */
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, n);
	b->len += n;
}

static void buf_drop(struct buf *b, size_t n)
{
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

static void buf_free(struct buf *b)
{
	free(b->data);
	*b = (struct buf){ 0 };
}

static void stream_flush(struct stream *st)
{
	while (st->fd >= 0 && st->out.len) {
		ssize_t w = write(st->fd, st->out.data, st->out.len);
		if (w <= 0)
			return; /* EAGAIN: POLLOUT brings us back; a dead host ends the stream on read */
		buf_drop(&st->out, (size_t)w);
	}
}

static void send_frame(int si, uint8_t type, uint32_t session, const void *payload, size_t len)
{
	struct stream *st = &streams[si];
	if (st->fd < 0)
		return;
	uint8_t hdr[AP_HEADER];
	ap_header(hdr, type, session, (uint32_t)len);
	buf_put(&st->out, hdr, sizeof(hdr));
	if (len)
		buf_put(&st->out, payload, len);
	stream_flush(st);
}

__attribute__((format(printf, 3, 4))) static void send_error(int si, uint32_t session, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	send_frame(si, AP_ERROR, session, msg, n < 0 ? 0 : (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1);
}

static void send_u32(int si, uint8_t type, uint32_t session, uint32_t v)
{
	uint8_t p[4];
	ap_put_u32(p, v);
	send_frame(si, type, session, p, sizeof(p));
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void session_free(struct session *s)
{
	if (s->in_fd != s->out_fd)
		close_fd(&s->in_fd);
	else
		s->in_fd = -1;
	close_fd(&s->out_fd);
	close_fd(&s->err_fd);
	buf_free(&s->in);
	*s = (struct session){ .stream = -1, .in_fd = -1, .out_fd = -1, .err_fd = -1 };
}

/* Ends a session the host gave up on: what runs of it is killed. */
static void session_kill(struct session *s)
{
	if (s->pid > 0 && !s->exited)
		kill(-s->pid, SIGKILL);
	session_free(s);
}

/* EXIT once the command has ended and its output is all sent. */
static void session_maybe_done(struct session *s)
{
	if (!s->exited || s->out_fd >= 0 || s->err_fd >= 0)
		return;
	send_u32(s->stream, AP_EXIT, s->id, (uint32_t)s->code);
	session_free(s);
}

static struct session *session_find(int si, uint32_t id)
{
	for (int i = 0; i < MAX_SESSIONS; i++)
		if (sessions[i].stream == si && sessions[i].id == id)
			return &sessions[i];
	return NULL;
}

/* Whether stream SI's host is gone, as a hang-up says. A port reads as
 * hung up also while the next host connects (the data may come before
 * the port's "connected" news): with an answer still to send, it is a
 * host on its way, and the port is looked at again shortly. */
static bool port_host_gone(int si)
{
	struct stream *st = &streams[si];
	if (!st->port || !st->out.len)
		return true;
	st->hup_until = now_ms() + 20;
	return false;
}

/* The host is gone from stream SI (HOST_LEFT), or it broke the protocol:
 * its sessions end; a connection closes; a port starts over, wanting a
 * HELLO (it cannot close its host's end: a host that goes on sending
 * what is no frame meets errors until it stops). */
static void stream_end(int si, bool host_left)
{
	struct stream *st = &streams[si];
	for (int i = 0; i < MAX_SESSIONS; i++)
		if (sessions[i].stream == si)
			session_kill(&sessions[i]);
	st->in_len = 0;
	st->greeted = false;
	st->closing = false;
	buf_free(&st->out);
	if (st->port) {
		st->hup_until = host_left ? now_ms() + HUP_RETRY_MS : 0;
		return;
	}
	close_fd(&st->fd);
}

static int stream_add(int fd, bool port)
{
	for (int i = 0; i < MAX_STREAMS; i++)
		if (streams[i].fd < 0) {
			streams[i] = (struct stream){ .fd = fd, .port = port };
			return i;
		}
	close(fd);
	return -1;
}

static void set_nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* ---- starting a command ---- */

struct exec_req {
	const char *argv[ARGV_MAX + 1];
	const char *cwd;
	const char *user;
	bool tty, detach;
	unsigned rows, cols;
	char **env;
};

/* "uid[:gid]" or a name in /etc/passwd (read as a file: a static init has
 * no NSS). */
static int resolve_user(const char *user, uid_t *uid, gid_t *gid, const char **home)
{
	char *end;
	unsigned long v = strtoul(user, &end, 10);
	if (end != user && (*end == '\0' || *end == ':')) {
		*uid = (uid_t)v;
		*gid = (gid_t)v;
		if (*end == ':') {
			char *gend;
			unsigned long g = strtoul(end + 1, &gend, 10);
			if (gend == end + 1 || *gend)
				return -1;
			*gid = (gid_t)g;
		}
		return 0;
	}
	FILE *f = fopen("/etc/passwd", "re");
	if (!f)
		return -1;
	struct passwd *pw;
	int rc = -1;
	while ((pw = fgetpwent(f)))
		if (strcmp(pw->pw_name, user) == 0) {
			*uid = pw->pw_uid;
			*gid = pw->pw_gid;
			static char home_buf[256];
			snprintf(home_buf, sizeof(home_buf), "%s", pw->pw_dir);
			*home = home_buf;
			rc = 0;
			break;
		}
	fclose(f);
	return rc;
}

/* BASE_ENV with each of ADD's KEY=VALUE in place of the base's KEY. */
static char **merge_env(json_t *add)
{
	size_t nb = 0, na = json_array_size(add);
	while (base_env && base_env[nb])
		nb++;
	char **env = calloc(nb + na + 1, sizeof(*env));
	if (!env)
		abort();
	size_t n = 0;
	for (size_t i = 0; i < nb; i++)
		env[n++] = base_env[i];
	for (size_t i = 0; i < na; i++) {
		const char *kv = json_string_value(json_array_get(add, i));
		const char *eq = kv ? strchr(kv, '=') : NULL;
		if (!eq || eq == kv)
			continue;
		size_t k = 0;
		while (k < n && !(strncmp(env[k], kv, (size_t)(eq - kv) + 1) == 0))
			k++;
		env[k] = (char *)kv;
		if (k == n)
			n++;
	}
	env[n] = NULL;
	return env;
}

static const char *parse_exec(json_t *o, struct exec_req *r)
{
	json_t *argv = json_object_get(o, "argv");
	size_t n = json_array_size(argv);
	if (!json_is_array(argv) || n == 0 || n > ARGV_MAX)
		return "argv: want 1 to 256 strings";
	for (size_t i = 0; i < n; i++)
		if (!(r->argv[i] = json_string_value(json_array_get(argv, i))))
			return "argv: want strings";
	r->argv[n] = NULL;
	json_t *env = json_object_get(o, "env");
	if (env && (!json_is_array(env) || json_array_size(env) > 1024))
		return "env: want at most 1024 KEY=VALUE strings";
	r->cwd = json_string_value(json_object_get(o, "cwd"));
	r->user = json_string_value(json_object_get(o, "user"));
	r->tty = json_is_true(json_object_get(o, "tty"));
	r->detach = json_is_true(json_object_get(o, "detach"));
	json_int_t rows = json_integer_value(json_object_get(o, "rows"));
	json_int_t cols = json_integer_value(json_object_get(o, "cols"));
	r->rows = rows > 0 && rows < 10000 ? (unsigned)rows : 24;
	r->cols = cols > 0 && cols < 10000 ? (unsigned)cols : 80;
	r->env = merge_env(env);
	return NULL;
}

/* In the child: becomes the command, or writes why not to ERRFD. */
static _Noreturn void exec_child(const struct exec_req *r, int in, int out, int err, int slave_tty, uid_t uid,
				 gid_t gid, bool as_user, int errfd)
{
	setsid();
	if (slave_tty >= 0)
		ioctl(slave_tty, TIOCSCTTY, 0);
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
		goto fail;
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	if (as_user && (setgroups(1, &gid) < 0 || setgid(gid) < 0 || setuid(uid) < 0))
		goto fail;
	if (chdir(r->cwd ? r->cwd : "/") < 0)
		goto fail;
	extern char **environ;
	environ = r->env;
	execvp(r->argv[0], (char *const *)r->argv);
fail:;
	int e = errno;
	if (write(errfd, &e, sizeof(e)) < 0)
		_exit(127);
	_exit(127);
}

static void start_session(int si, uint32_t id, const struct ap_frame *f)
{
	int used = 0;
	for (int i = 0; i < MAX_SESSIONS; i++)
		used += sessions[i].stream == si;
	struct session *s = NULL;
	for (int i = 0; i < MAX_SESSIONS && !s; i++)
		if (sessions[i].stream < 0)
			s = &sessions[i];
	if (id == 0 || session_find(si, id)) {
		send_error(si, id, "exec: session %u is in use", id);
		return;
	}
	if (!s || used >= AP_MAX_SESSIONS) {
		send_error(si, id, "exec: too many sessions (%d on this stream)", AP_MAX_SESSIONS);
		return;
	}
	json_error_t jerr;
	json_t *o = json_loadb((const char *)f->payload, f->len, 0, &jerr);
	struct exec_req r = { 0 };
	const char *bad = json_is_object(o) ? parse_exec(o, &r) : "not a JSON object";
	if (bad) {
		send_error(si, id, "exec: %s", bad);
		json_decref(o);
		return;
	}
	uid_t uid = 0;
	gid_t gid = 0;
	const char *home = NULL;
	if (r.user && resolve_user(r.user, &uid, &gid, &home) < 0) {
		send_error(si, id, "exec: no such user (%s)", r.user);
		send_u32(si, AP_EXIT, id, 126);
		free(r.env);
		json_decref(o);
		return;
	}
	(void)home;
	if (no_exec) {
		send_error(si, id, "exec: %s: not run under the fuzzer", r.argv[0]);
		send_u32(si, AP_EXIT, id, 127);
		free(r.env);
		json_decref(o);
		return;
	}
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 }, errpipe[2] = { -1, -1 };
	int master = -1, slave = -1;
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	bool ok = devnull >= 0 && pipe2(errpipe, O_CLOEXEC) == 0;
	if (ok && r.detach) {
		in[0] = out[1] = err[1] = devnull;
	} else if (ok && r.tty) {
		master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
		ok = master >= 0 && grantpt(master) == 0 && unlockpt(master) == 0;
		const char *name = ok ? ptsname(master) : NULL;
		slave = name ? open(name, O_RDWR | O_NOCTTY | O_CLOEXEC) : -1;
		ok = slave >= 0;
		if (ok) {
			struct winsize ws = { .ws_row = (unsigned short)r.rows, .ws_col = (unsigned short)r.cols };
			ioctl(master, TIOCSWINSZ, &ws);
			in[0] = out[1] = err[1] = slave;
		}
	} else if (ok) {
		ok = pipe2(in, O_CLOEXEC) == 0 && pipe2(out, O_CLOEXEC) == 0 && pipe2(err, O_CLOEXEC) == 0;
	}
	pid_t pid = ok ? fork() : -1;
	if (pid == 0)
		exec_child(&r, in[0], out[1], err[1], slave, uid, gid, r.user != NULL, errpipe[1]);
	int child_errno = 0;
	if (pid > 0) {
		close(errpipe[1]);
		errpipe[1] = -1;
		if (read(errpipe[0], &child_errno, sizeof(child_errno)) != (ssize_t)sizeof(child_errno))
			child_errno = 0;
	}
	int saved = errno;
	close_fd(&errpipe[0]);
	close_fd(&errpipe[1]);
	if (!r.detach && !r.tty) {
		close_fd(&in[0]);
		close_fd(&out[1]);
		close_fd(&err[1]);
	}
	close_fd(&slave);
	close_fd(&devnull);
	free(r.env);
	if (pid < 0 || child_errno) {
		int e = pid < 0 ? saved : child_errno;
		send_error(si, id, "exec: %s: %s", r.argv[0] ? r.argv[0] : "?", strerror(e));
		send_u32(si, AP_EXIT, id, e == ENOENT ? 127 : 126);
		close_fd(&in[1]);
		close_fd(&out[0]);
		close_fd(&err[0]);
		close_fd(&master);
		json_decref(o);
		return;
	}
	json_decref(o);
	send_u32(si, AP_STARTED, id, (uint32_t)pid);
	if (r.detach)
		return; /* lives on alone; reaped like any orphan */
	*s = (struct session){ .stream = si, .id = id, .pid = pid, .tty = r.tty };
	if (r.tty) {
		s->in_fd = s->out_fd = master;
		s->err_fd = -1;
	} else {
		s->in_fd = in[1];
		s->out_fd = out[0];
		s->err_fd = err[0];
	}
	set_nonblock(s->out_fd);
	if (s->err_fd >= 0)
		set_nonblock(s->err_fd);
	if (s->in_fd != s->out_fd)
		set_nonblock(s->in_fd);
}

/* ---- frames from the host ---- */

static void session_stdin(struct session *s, const struct ap_frame *f)
{
	if (f->len == 0) {
		if (s->tty)
			buf_put(&s->in, "\x04", 1); /* the terminal's end of file */
		else
			s->eof_pending = true;
	} else if (s->in_fd >= 0) {
		buf_put(&s->in, f->payload, f->len);
	}
}

static void session_write_in(struct session *s)
{
	while (s->in_fd >= 0 && s->in.len) {
		ssize_t w = write(s->in_fd, s->in.data, s->in.len);
		if (w < 0 && errno == EAGAIN)
			return;
		if (w <= 0) {
			buf_free(&s->in); /* the command closed its stdin: what is left is dropped */
			break;
		}
		buf_drop(&s->in, (size_t)w);
	}
	if (!s->in.len && s->eof_pending && s->in_fd != s->out_fd) {
		close_fd(&s->in_fd);
		s->eof_pending = false;
	}
}

/* Acts on one frame of stream SI; false when the stream must end. */
static bool frame(int si, const struct ap_frame *f)
{
	struct stream *st = &streams[si];
	if (f->type == AP_HELLO) {
		uint32_t v = f->len == 4 ? ap_get_u32(f->payload) : 0;
		if (f->session != 0 || v != AP_VERSION) {
			send_error(si, 0, "unsupported version %u; this agent speaks %d", v, AP_VERSION);
			st->closing = true;
			return true;
		}
		/* A new host on a port: what the last one left there ends. */
		for (int i = 0; i < MAX_SESSIONS; i++)
			if (sessions[i].stream == si)
				session_kill(&sessions[i]);
		st->greeted = true;
		send_u32(si, AP_HELLO, 0, AP_VERSION);
		return true;
	}
	if (!st->greeted) {
		send_error(si, 0, "protocol: HELLO first");
		st->closing = true;
		return true;
	}
	if (f->type == AP_EXEC) {
		start_session(si, f->session, f);
		return true;
	}
	struct session *s = session_find(si, f->session);
	bool late = f->type == AP_STDIN || f->type == AP_RESIZE || f->type == AP_SIGNAL || f->type == AP_CLOSE;
	if (!s && late)
		return true; /* it may have crossed the session's EXIT: dropped */
	if (!s) {
		send_error(si, f->session, "protocol: no session %u for frame type %u", f->session, f->type);
		return true;
	}
	switch (f->type) {
	case AP_STDIN:
		session_stdin(s, f);
		session_write_in(s);
		break;
	case AP_RESIZE:
		if (s->tty && f->len == 4) {
			struct winsize ws = { .ws_row = (unsigned short)(f->payload[0] << 8 | f->payload[1]),
					      .ws_col = (unsigned short)(f->payload[2] << 8 | f->payload[3]) };
			ioctl(s->out_fd, TIOCSWINSZ, &ws);
		}
		break;
	case AP_SIGNAL:
		if (f->len == 4 && ap_get_u32(f->payload) > 0 && ap_get_u32(f->payload) < NSIG && !s->exited)
			kill(-s->pid, (int)ap_get_u32(f->payload));
		break;
	case AP_CLOSE:
		session_kill(s);
		break;
	default:
		send_error(si, f->session, "protocol: unknown frame type %u", f->type);
		session_kill(s);
		break;
	}
	return true;
}

/* Parses and acts on what stream SI has read; -1 when it must end. */
static int stream_consume(int si)
{
	struct stream *st = &streams[si];
	size_t off = 0;
	int frames = 0;
	while (!st->closing) {
		struct ap_frame f;
		size_t used;
		const char *why = NULL;
		int rc = ap_parse(st->in + off, st->in_len - off, &f, &used, &why);
		if (rc < 0) {
			send_error(si, 0, "protocol: %s", why);
			st->closing = true;
			break;
		}
		if (rc == 0)
			break;
		frame(si, &f);
		frames++;
		off += used;
		if (st->fd < 0)
			return -1;
	}
	if (st->closing)
		off = st->in_len; /* nothing more is read from a stream that ends */
	memmove(st->in, st->in + off, st->in_len - off);
	st->in_len -= off;
	return frames;
}

static void stream_read(int si)
{
	struct stream *st = &streams[si];
	/* Until the port is empty: a virtio port's poll may not say what a
	 * read still finds. */
	for (int rounds = 0; rounds < 16 && st->fd >= 0; rounds++) {
		ssize_t n = read(st->fd, st->in + st->in_len, sizeof(st->in) - st->in_len);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			if (port_host_gone(si))
				stream_end(si, true);
			return;
		}
		st->in_len += (size_t)n;
		if (stream_consume(si) < 0) {
			stream_end(si, false);
			return;
		}
	}
}

/* A stream whose sessions hold too much unwritten stdin is not read. */
static bool stream_saturated(int si)
{
	for (int i = 0; i < MAX_SESSIONS; i++)
		if (sessions[i].stream == si && sessions[i].in.len > IN_CAP)
			return true;
	return false;
}

static void output(struct session *s, int *fd, uint8_t type)
{
	uint8_t data[AP_MAX_PAYLOAD];
	ssize_t n = read(*fd, data, sizeof(data));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) { /* EIO from a terminal's master: its last holder left */
		if (fd == &s->out_fd && s->in_fd == s->out_fd)
			s->in_fd = -1;
		close_fd(fd);
		session_maybe_done(s);
		return;
	}
	send_frame(s->stream, type, s->id, data, (size_t)n);
}

/* ---- the main loop's side ---- */

static void open_ports(void)
{
	DIR *d = opendir("/sys/class/virtio-ports");
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		char path[300], name[64] = "";
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/class/virtio-ports/%s/name", e->d_name);
		FILE *f = fopen(path, "re");
		if (!f)
			continue;
		if (!fgets(name, sizeof(name), f))
			name[0] = '\0';
		fclose(f);
		name[strcspn(name, "\n")] = '\0';
		if (strncmp(name, AP_SESSION_PORT_PREFIX, strlen(AP_SESSION_PORT_PREFIX)) != 0)
			continue;
		snprintf(path, sizeof(path), "/dev/%s", e->d_name);
		int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
		if (fd < 0)
			continue;
		/* The port signals a host connecting (virtio_console's SIGIO). */
		fcntl(fd, F_SETOWN, getpid());
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_ASYNC);
		stream_add(fd, true);
	}
	closedir(d);
}

static int listen_on(int domain, const struct sockaddr *sa, socklen_t len)
{
	int fd = socket(domain, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, sa, len) < 0 || listen(fd, 8) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

void sessions_init(bool in_container, char **env)
{
	base_env = env;
	for (int i = 0; i < MAX_STREAMS; i++)
		streams[i].fd = -1;
	for (int i = 0; i < MAX_SESSIONS; i++)
		session_free(&sessions[i]);
	if (in_container) {
		struct stat st;
		if (stat(HEARTH_CONTAINER_AGENT_DIR, &st) < 0 || !S_ISDIR(st.st_mode))
			return;
		struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = AP_SESSION_SOCK };
		unlink(AP_SESSION_SOCK);
		listener = listen_on(AF_UNIX, (struct sockaddr *)&sa, sizeof(sa));
		return;
	}
	open_ports();
	struct sockaddr_vm va = { .svm_family = AF_VSOCK, .svm_port = AP_SESSION_VSOCK_PORT, .svm_cid = VMADDR_CID_ANY };
	listener = listen_on(AF_VSOCK, (struct sockaddr *)&va, sizeof(va));
}

static int add_pollfd(struct pollfd *p, int n, int max, int fd, short events, enum tag_kind kind, int index)
{
	if (n >= max || n >= SESSIONS_POLLFDS)
		return n;
	p[n] = (struct pollfd){ fd, events, 0 };
	tags[n].kind = kind;
	tags[n].index = index;
	return n + 1;
}

int sessions_pollfds(struct pollfd *p, int max)
{
	int n = 0;
	long long now = now_ms();
	if (listener >= 0)
		n = add_pollfd(p, n, max, listener, POLLIN, TAG_LISTENER, 0);
	for (int i = 0; i < MAX_STREAMS; i++) {
		struct stream *st = &streams[i];
		if (st->fd < 0 || (st->port && st->hup_until > now))
			continue;
		/* An ending stream reads nothing: on a port, what comes next may
		 * be the next host's HELLO. */
		bool read = !st->closing && !stream_saturated(i);
		short ev = (short)((read ? POLLIN : 0) | (st->out.len ? POLLOUT : 0));
		n = add_pollfd(p, n, max, st->fd, ev, TAG_STREAM, i);
	}
	for (int i = 0; i < MAX_SESSIONS; i++) {
		struct session *s = &sessions[i];
		if (s->stream < 0)
			continue;
		bool room = streams[s->stream].out.len < OUT_CAP;
		if (s->out_fd >= 0 && room)
			n = add_pollfd(p, n, max, s->out_fd, POLLIN, TAG_OUT, i);
		if (s->err_fd >= 0 && room)
			n = add_pollfd(p, n, max, s->err_fd, POLLIN, TAG_ERR, i);
		if (s->in_fd >= 0 && s->in_fd != s->out_fd && s->in.len)
			n = add_pollfd(p, n, max, s->in_fd, POLLOUT, TAG_IN, i);
	}
	return n;
}

void sessions_wake(void)
{
	for (int i = 0; i < MAX_STREAMS; i++)
		streams[i].hup_until = 0;
}

int sessions_timeout_ms(void)
{
	for (int i = 0; i < MAX_STREAMS; i++)
		if (streams[i].fd >= 0 && streams[i].port && streams[i].hup_until > now_ms())
			return HUP_RETRY_MS;
	return -1;
}

void sessions_dispatch(struct pollfd *p, int n)
{
	for (int k = 0; k < n; k++) {
		short re = p[k].revents;
		if (!re)
			continue;
		int i = tags[k].index;
		switch (tags[k].kind) {
		case TAG_LISTENER: {
			int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
			if (fd >= 0)
				stream_add(fd, false);
			break;
		}
		case TAG_STREAM:
			if (streams[i].fd < 0)
				break;
			if (re & POLLOUT)
				stream_flush(&streams[i]);
			if ((re & POLLIN) && !streams[i].closing)
				stream_read(i);
			else if ((re & (POLLHUP | POLLERR)) && !(re & POLLIN) && port_host_gone(i))
				stream_end(i, true); /* a port's host left (or never came) */
			if (streams[i].fd >= 0 && streams[i].closing && !streams[i].out.len)
				stream_end(i, false);
			break;
		case TAG_OUT:
		case TAG_ERR:
			if (sessions[i].stream >= 0) {
				struct session *s = &sessions[i];
				int *fd = tags[k].kind == TAG_OUT ? &s->out_fd : &s->err_fd;
				if (*fd == p[k].fd)
					output(s, fd, tags[k].kind == TAG_OUT ? AP_STDOUT : AP_STDERR);
			}
			break;
		case TAG_IN:
			if (sessions[i].stream >= 0 && sessions[i].in_fd == p[k].fd)
				session_write_in(&sessions[i]);
			break;
		}
	}
}

bool sessions_reaped(pid_t pid, int status)
{
	for (int i = 0; i < MAX_SESSIONS; i++) {
		struct session *s = &sessions[i];
		if (s->stream < 0 || s->pid != pid)
			continue;
		s->exited = true;
		s->code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		/* A terminal's master may stay open for the command's background
		 * children: what is there now is the command's output. */
		if (s->tty && s->out_fd >= 0) {
			uint8_t data[AP_MAX_PAYLOAD];
			ssize_t r;
			while ((r = read(s->out_fd, data, sizeof(data))) > 0)
				send_frame(s->stream, AP_STDOUT, s->id, data, (size_t)r);
			s->in_fd = -1;
			close_fd(&s->out_fd);
		}
		session_maybe_done(s);
		return true;
	}
	return false;
}

int sessions_feed_for_test(const void *bytes, size_t len)
{
	static bool ready;
	if (!ready) {
		no_exec = true;
		for (int i = 0; i < MAX_STREAMS; i++)
			streams[i].fd = -1;
		for (int i = 0; i < MAX_SESSIONS; i++)
			session_free(&sessions[i]);
		ready = true;
	}
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	int si = stream_add(fd, false);
	if (si < 0)
		return -1;
	struct stream *st = &streams[si];
	int frames = 0;
	const uint8_t *p = bytes;
	while (len && st->fd >= 0) {
		size_t take = len < sizeof(st->in) - st->in_len ? len : sizeof(st->in) - st->in_len;
		memcpy(st->in + st->in_len, p, take);
		st->in_len += take;
		p += take;
		len -= take;
		int rc = stream_consume(si);
		if (rc < 0 || st->closing) {
			stream_end(si, false);
			return -1;
		}
		frames += rc;
	}
	stream_end(si, false);
	return frames;
}
