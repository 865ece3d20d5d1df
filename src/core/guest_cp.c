/* hearth cp: trees between the host and a running guest, as a copy
 * stream (hearth/copy_stream.h) over an exec session of hearth-init's
 * own cp-out / cp-in. No temporary copy: a thread writes or reads the
 * stream through a pipe while the session pumps it. What comes out of a
 * guest is untrusted: cs_read_tree makes nothing outside DST and follows
 * no link. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "core.h"
#include "hearth/copy_stream.h"

/* hearth-init as the guest runs it: the agent's own binary. */
#define GUEST_INIT "/proc/1/exe"

struct side {
	int fd;
	const char *path, *dir, *rename;
	int rc;
	char err[512];
};

static void *read_side(void *arg)
{
	struct side *s = arg;
	s->rc = cs_read_tree(s->fd, s->dir, s->rename, false, s->err, sizeof(s->err));
	/* Drained whatever its end, so the session never waits on a full pipe. */
	char buf[4096];
	while (read(s->fd, buf, sizeof(buf)) > 0)
		;
	return NULL;
}

static void *write_side(void *arg)
{
	struct side *s = arg;
	sigset_t pipe_only;
	sigemptyset(&pipe_only);
	sigaddset(&pipe_only, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_only, NULL); /* a guest that stops reading: EPIPE, not death */
	s->rc = cs_write_tree(s->fd, s->path, s->rename, s->err, sizeof(s->err));
	close(s->fd);
	return NULL;
}

/* What the guest's end said on stderr, one line, or "". */
static char *guest_words(int memfd)
{
	char buf[512] = "";
	ssize_t n = pread(memfd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return xstrdup(buf);
}

static int run_copy(struct hearth_ctx *ctx, const char *name, char **argv, struct side *s, bool out,
		    struct hearth_error **err)
{
	int p[2], errfd = anon_file("hearth-cp-stderr");
	if (errfd < 0 || pipe_cloexec(p) < 0) {
		int e = errno;
		if (errfd >= 0)
			close(errfd);
		return hearth_fail(err, HEARTH_ERR_RUNTIME, e, "cp: %s", strerror(e));
	}
	s->fd = out ? p[0] : p[1];
	pthread_t t;
	int e = pthread_create(&t, NULL, out ? read_side : write_side, s);
	if (e) {
		close(p[0]);
		close(p[1]);
		close(errfd);
		return hearth_fail(err, HEARTH_ERR_RUNTIME, e, "cp: thread: %s", strerror(e));
	}
	struct hearth_exec ex = { .argv = argv,
				  .in_fd = out ? -1 : p[0],
				  .out_fd = out ? p[1] : errfd,
				  .err_fd = errfd,
				  .tty_fd = -1,
				  .signal_fd = -1 };
	int status = -1;
	struct hearth_error *run_err = NULL;
	int rc = hearth_guest_exec(ctx, name, &ex, &status, &run_err);
	/* The reader sees the stream's end; a writer still writing, EPIPE. */
	if (out) {
		close(p[1]);
		pthread_join(t, NULL);
		close(p[0]);
	} else {
		close(p[0]);
		pthread_join(t, NULL);
	}
	_cleanup_free_ char *words = guest_words(errfd);
	close(errfd);
	if (rc < 0) {
		hearth_error_pass(err, run_err);
		return -1;
	}
	/* The guest's end failing is the cause of a stream cut short. */
	if (status != 0)
		return fail_runtime(err, "%s: cp: %s", name, *words ? words : "the guest's end failed");
	if (s->rc < 0)
		return fail_runtime(err, "%s: cp: %s", name, s->err);
	return 0;
}

int hearth_guest_copy_out(struct hearth_ctx *ctx, const char *name, const char *src, const char *dst,
			  struct hearth_error **err)
{
	if (!src || src[0] != '/')
		return fail_invalid(err, "cp: the guest's path must be absolute (%s)", src ? src : "");
	char why[256] = "";
	char *dir = NULL, *rename = NULL;
	if (!dst || cs_destination(dst, &dir, &rename, why, sizeof(why)) < 0)
		return fail_invalid(err, "cp: %s", dst ? why : "no destination");
	struct stat st;
	int rc;
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		rc = fail_invalid(err, "cp: no such directory (%s)", dir);
	else {
		char *argv[] = { (char *)GUEST_INIT, (char *)"cp-out", (char *)src, NULL };
		struct side s = { .dir = dir, .rename = rename };
		rc = run_copy(ctx, name, argv, &s, true, err);
	}
	free(dir);
	free(rename);
	return rc;
}

int hearth_guest_copy_in(struct hearth_ctx *ctx, const char *name, const char *src, const char *dst,
			 struct hearth_error **err)
{
	if (!dst || dst[0] != '/')
		return fail_invalid(err, "cp: the guest's path must be absolute (%s)", dst ? dst : "");
	struct stat st;
	if (!src || lstat(src, &st) < 0)
		return hearth_fail(err, HEARTH_ERR_INVALID, errno, "cp: %s (%s)", strerror(errno), src ? src : "");
	char *argv[] = { (char *)GUEST_INIT, (char *)"cp-in", (char *)dst, NULL };
	struct side s = { .path = src };
	return run_copy(ctx, name, argv, &s, false, err);
}
