/* hearth-monitor: one per guest, exec'd by libhearth (lib/monitor.c)
 * with its monitor_spec as JSON on stdin and a status pipe on fd 3. It
 * starts the hypervisor, answers "ok" (or why not) on fd 3, then stays
 * with the guest to its end: console log and rotation, the ready and exit
 * lines, the port proxy, the final record and the cleanup. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "hearth/contract.h"
#include "lib/bridge.h"
#include "lib/cgroup.h"
#include "lib/monitor.h"
#include "lib/proc.h"
#include "lib/proxy.h"
#include "lib/state.h"

#define STATUS_FD 3
#define SPEC_MAX (1 << 20)

struct monitor {
	const struct monitor_spec *spec;
	int dirfd;
	int console_fd;
	uint64_t console_size; /* bytes in console.log */
	uint64_t console_max;  /* past this, console.log becomes console.log.1 */
	pid_t vmm;
	char line[4096]; /* the console line being assembled */
	size_t line_len;
	bool ready;		   /* hearth-init's ready line seen */
	struct hearth_ready probe; /* the guest's readiness probe */
	char *probe_spec;
	regex_t probe_re; /* LOG's */
	bool probe_re_ok, running;
	int exit_code;
	bool saw_panic;
};

static void close_other_fds(const int *keep, size_t n)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return;
	int self = dirfd(d);
	int fds[1024];
	size_t count = 0;
	struct dirent *e;
	while ((e = readdir(d)) && count < ARRAY_SIZE(fds)) {
		uint64_t v;
		if (parse_u64(e->d_name, 3, 1 << 20, &v) < 0 || (int)v == self)
			continue;
		int fd = (int)v;
		bool kept = false;
		for (size_t i = 0; i < n; i++)
			kept |= keep[i] == fd;
		if (!kept)
			fds[count++] = fd;
	}
	closedir(d);
	for (size_t i = 0; i < count; i++)
		close(fds[i]);
}

struct pids {
	pid_t vmm;
	bool abandoned; /* the start was given up meanwhile */
	char *ready;	/* the probe recorded */
};

static void set_pids(struct hearth_record *rec, void *arg)
{
	struct pids *p = arg;
	rec->monitor_pid = getpid();
	rec->monitor_start = proc_start_time(getpid());
	rec->vmm_pid = p->vmm;
	rec->vmm_start = proc_start_time(p->vmm);
	/* The command that started us died and the next one marked the
	 * start failed before our pids were here to be killed. */
	p->abandoned = rec->status != HEARTH_STATUS_STARTING;
	p->ready = rec->ready ? xstrdup(rec->ready) : NULL;
}

static void set_running(struct hearth_record *rec, void *arg)
{
	(void)arg;
	if (rec->status == HEARTH_STATUS_STARTING)
		record_set_status(rec, HEARTH_STATUS_RUNNING, NULL);
}

static void set_agent_ready(struct hearth_record *rec, void *arg)
{
	(void)arg;
	rec->agent_ready = true;
}

static void update(struct monitor *m, record_fn fn)
{
	struct hearth_error *err = NULL;
	if (record_update(m->dirfd, fn, NULL, &err) < 0) {
		fprintf(stderr, "hearth-monitor: %s\n", err->message);
		hearth_error_free(err);
	}
}

/* The guest is ready as its probe says: the monitor's own probes (the
 * ready line, a console line, none) mark it running; the others are the
 * core's (core/guest_ready.c), an exec once hearth-init is up. */
static void mark_running(struct monitor *m)
{
	if (!m->running)
		update(m, set_running);
	m->running = true;
}

/* The last line of the VMM's own log FILE that reports an error, without
 * its time stamp, or NULL. Only the file's tail is read. */
static char *last_error_line(int dirfd, const char *file)
{
	_cleanup_close_ int fd = openat(dirfd, file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return NULL;
	char buf[16384];
	off_t end = lseek(fd, 0, SEEK_END);
	off_t from = end > (off_t)sizeof(buf) - 1 ? end - (off_t)sizeof(buf) + 1 : 0;
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, from);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	/* The first error after the last request that went well is the
	 * cause; later ones ("exiting with error") are its consequences. */
	char *found = NULL;
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
		/* Not "exiting successfully": firecracker says so after a KVM
		 * internal error too. */
		if (strstr(line, "request was executed successfully"))
			found = NULL;
		else if (!found && (strstr(line, "ERROR") || strstr(line, "rror")))
			found = line;
	}
	if (!found)
		return NULL;
	/* "2026-11-29T11:19:50.70 [anonymous-instance:main] Message": the message. */
	char *msg = strstr(found, "] ");
	return xstrdup(msg ? msg + 2 : found);
}

struct final_state {
	int wait_status;
	struct monitor *m;
};

static void set_final(struct hearth_record *rec, void *arg)
{
	struct final_state *f = arg;
	struct monitor *m = f->m;
	const char *vmm = m->spec->vmm_name;
	_cleanup_free_ char *reason = NULL;
	enum hearth_status status = HEARTH_STATUS_STOPPED;
	rec->exit_code = m->exit_code;
	/* What happened, in plain words, once: `hearth status` prints the
	 * reason of a stopped guest alone. */
	if (WIFSIGNALED(f->wait_status) && rec->stop_requested && WTERMSIG(f->wait_status) == SIGKILL) {
		reason = xstrdup("killed after the stop timeout");
	} else if (WIFSIGNALED(f->wait_status)) {
		status = HEARTH_STATUS_FAILED;
		reason = xasprintf("%s killed by signal %d", vmm, WTERMSIG(f->wait_status));
	} else if (WEXITSTATUS(f->wait_status) != 0) {
		status = HEARTH_STATUS_FAILED;
		_cleanup_free_ char *why = m->spec->vmm_log ? last_error_line(m->dirfd, m->spec->vmm_log) : NULL;
		reason = xasprintf("%s exited with status %d: %s", vmm, WEXITSTATUS(f->wait_status),
				   why ? why : "see hearth logs --hypervisor");
	} else if (m->exit_code >= 0 && rec->stop_requested) {
		reason = xstrdup("stopped by request");
	} else if (m->exit_code >= 0) {
		reason = xasprintf("exited on its own with code %d", m->exit_code);
	} else if (rec->stop_requested) {
		reason = xasprintf("forced off after the stop timeout (%s quit)", vmm);
	} else if (m->saw_panic) {
		status = HEARTH_STATUS_FAILED;
		reason = xstrdup("guest kernel panic (see hearth logs)");
	} else {
		/* A VMM may log its own error and still exit 0 (firecracker
		 * after a KVM internal error, seen here): that error is the
		 * reason, where there is one. */
		status = HEARTH_STATUS_FAILED;
		_cleanup_free_ char *why = m->spec->vmm_log ? last_error_line(m->dirfd, m->spec->vmm_log) : NULL;
		reason = why ? xasprintf("%s ended before hearth-init %s: %s", vmm, m->ready ? "finished" : "was ready",
					 why)
			     : xasprintf("guest reset before hearth-init %s", m->ready ? "finished" : "was ready");
	}
	record_set_status(rec, status, reason);
}

static void scan_line(struct monitor *m)
{
	m->line[m->line_len] = '\0';
	const char *l = m->line;
	if (!m->ready && strstr(l, HEARTH_READY_LINE)) {
		m->ready = true;
		update(m, set_agent_ready); /* a guest that ends at once was ready all the same */
		if (m->probe.kind == HEARTH_READY_AGENT)
			mark_running(m);
	}
	if (m->probe.kind == HEARTH_READY_LOG && !m->running && m->probe_re_ok &&
	    regexec(&m->probe_re, l, 0, NULL, 0) == 0)
		mark_running(m);
	int code = monitor_exit_code(l);
	if (code >= 0)
		m->exit_code = code;
	if (strstr(l, "Kernel panic - not syncing"))
		m->saw_panic = true;
	m->line_len = 0;
}

/* A guest may write to its console without end: the log is kept to two
 * generations of at most console_max bytes each. */
static void console_rotate(struct monitor *m)
{
	if (renameat(m->dirfd, "console.log", m->dirfd, "console.log.1") < 0)
		return;
	int fd =
		openat(m->dirfd, "console.log", O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return; /* writes go on to the old file, now console.log.1 */
	dup2(fd, m->console_fd);
	close(fd);
	m->console_size = 0;
}

static void console_chunk(struct monitor *m, const char *buf, size_t n)
{
	if (m->console_size + n > m->console_max)
		console_rotate(m);
	for (size_t off = 0; off < n && m->console_size < m->console_max + sizeof(m->line);) {
		ssize_t w = write(m->console_fd, buf + off, n - off);
		if (w <= 0)
			break; /* a full disk costs log lines, never the guest */
		off += (size_t)w;
		m->console_size += (uint64_t)w;
	}
	for (size_t i = 0; i < n; i++) {
		if (buf[i] == '\n' || m->line_len == sizeof(m->line) - 1)
			scan_line(m);
		else
			m->line[m->line_len++] = buf[i];
	}
}

/* console.sock in the guest's directory (0700, the caller's): what hearth
 * attach sends there is the console's input. */
static int attach_listen(int dirfd)
{
	/* Through the directory's descriptor: a deep state root's path would
	 * not fit a socket address. */
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/console.sock", dirfd);
	unlinkat(dirfd, "console.sock", 0);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 2) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static _Noreturn void monitor_run(const struct monitor_spec *spec, int status_fd)
{
	struct monitor m = { .spec = spec, .exit_code = -1 };
	umask(077);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	m.dirfd = open(spec->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	int hvlog = openat(m.dirfd, "hypervisor.log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	m.console_fd = openat(m.dirfd, "console.log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	m.console_max = spec->console_max ? spec->console_max : 16ULL << 20;
	struct stat cst;
	if (m.console_fd >= 0 && fstat(m.console_fd, &cst) == 0)
		m.console_size = (uint64_t)cst.st_size;
	int con[2], execfail[2], con_in[2];
	if (m.dirfd < 0 || devnull < 0 || hvlog < 0 || m.console_fd < 0 || pipe2(con, O_CLOEXEC) < 0 ||
	    pipe2(execfail, O_CLOEXEC) < 0 || pipe2(con_in, O_CLOEXEC) < 0) {
		dprintf(status_fd, "monitor: cannot set up logs in %s: %s", spec->dir, strerror(errno));
		_exit(1);
	}
	int keep[] = { status_fd, m.dirfd,     devnull,	    hvlog,     m.console_fd, con[0],
		       con[1],	  execfail[0], execfail[1], con_in[0], con_in[1] };
	close_other_fds(keep, ARRAY_SIZE(keep));
	dup2(devnull, 0);
	dup2(hvlog, 1);
	dup2(hvlog, 2);

	struct proxy *proxy = NULL;
	if (spec->n_ports > 0) {
		struct hearth_error *perr = NULL;
		proxy = proxy_new(spec->guest_addr, spec->ports, spec->n_ports, &perr);
		if (!proxy) {
			dprintf(status_fd, "%s", perr->message);
			_exit(1);
		}
	}

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);

	m.vmm = fork();
	if (m.vmm == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		/* A guest must not outlive its monitor unsupervised. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(con_in[0], 0); /* the console's input: hearth attach writes it */
		dup2(con[1], 1);
		dup2(hvlog, 2);
		for (char *const *e = spec->env; e && *e; e++)
			putenv(*e);
		if (fchdir(m.dirfd) < 0)
			_exit(126);
		execvp(spec->argv[0], spec->argv);
		int e = errno;
		if (write(execfail[1], &e, sizeof(e)) < 0)
			_exit(126);
		_exit(127);
	}
	close(con[1]);
	close(execfail[1]);
	close(con_in[0]);
	fcntl(con_in[1], F_SETFL, O_NONBLOCK);
	int attach = attach_listen(m.dirfd);
	int child_errno = 0;
	if (m.vmm < 0 || read(execfail[0], &child_errno, sizeof(child_errno)) > 0) {
		int e = m.vmm < 0 ? errno : child_errno;
		dprintf(status_fd, "cannot run %s: %s", spec->argv[0], strerror(e));
		if (m.vmm > 0)
			waitpid(m.vmm, NULL, 0);
		_exit(1);
	}
	close(execfail[0]);
	struct hearth_error *err = NULL;
	struct pids pids = { .vmm = m.vmm };
	if (record_update(m.dirfd, set_pids, &pids, &err) < 0) {
		dprintf(status_fd, "%s", err->message);
		kill(m.vmm, SIGKILL);
		_exit(1);
	}
	if (pids.abandoned)
		kill(m.vmm, SIGKILL); /* reaped and cleaned up below, as any end */
	m.probe_spec = pids.ready;
	if (hearth_ready_parse(m.probe_spec, &m.probe, NULL) < 0)
		m.probe.kind = HEARTH_READY_AGENT;
	if (m.probe.kind == HEARTH_READY_LOG)
		m.probe_re_ok = regcomp(&m.probe_re, m.probe.arg, REG_EXTENDED | REG_NOSUB) == 0;
	if (m.probe.kind == HEARTH_READY_NONE)
		mark_running(&m);
	if (write(status_fd, "ok", 2) < 0)
		fprintf(stderr, "hearth-monitor: status pipe: %s\n", strerror(errno));
	close(status_fd);

	struct final_state f = { .m = &m };
	bool reaped = false;
	int client = -1;
	for (;;) {
		struct pollfd pfd[5] = { { con[0], POLLIN, 0 },
					 { sfd, POLLIN, 0 },
					 { -1, POLLIN, 0 },
					 { attach, POLLIN, 0 },
					 { client, POLLIN, 0 } };
		if (proxy)
			pfd[2].fd = proxy_fd(proxy);
		if (poll(pfd, 5, proxy ? proxy_timeout_ms(proxy) : -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		bool vmm_gone = false;
		if (pfd[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
				if (si.ssi_signo == SIGTERM)
					kill(m.vmm, SIGTERM);
				else if (!reaped && waitpid(m.vmm, &f.wait_status, WNOHANG) == m.vmm)
					reaped = vmm_gone = true;
			}
		}
		if (vmm_gone) {
			/* The VMM exited; a child it left may still hold the
			 * console pipe open, so drain what is there and stop. */
			char buf[8192];
			ssize_t n;
			fcntl(con[0], F_SETFL, O_NONBLOCK);
			while ((n = read(con[0], buf, sizeof(buf))) > 0)
				console_chunk(&m, buf, (size_t)n);
			break;
		}
		if (pfd[0].revents & (POLLIN | POLLHUP)) {
			char buf[8192];
			ssize_t n = read(con[0], buf, sizeof(buf));
			if (n <= 0)
				break;
			console_chunk(&m, buf, (size_t)n);
		}
		if (pfd[3].revents & POLLIN) {
			/* One writer at a time: a new one takes the console over. */
			int fd = accept4(attach, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
			if (fd >= 0) {
				if (client >= 0)
					close(client);
				client = fd;
			}
		}
		if (pfd[4].revents & (POLLIN | POLLHUP | POLLERR)) {
			char buf[4096];
			ssize_t n = read(client, buf, sizeof(buf));
			if (n <= 0) {
				close(client);
				client = -1;
			} else if (write(con_in[1], buf, (size_t)n) < 0) {
				/* a guest that reads no input drops it, as a serial line does */
			}
		}
		if (proxy)
			proxy_dispatch(proxy);
	}
	if (client >= 0)
		close(client);
	if (attach >= 0) {
		close(attach);
		unlinkat(m.dirfd, "console.sock", 0);
	}
	close(con_in[1]);
	if (m.line_len)
		scan_line(&m);
	while (!reaped && waitpid(m.vmm, &f.wait_status, 0) < 0 && errno == EINTR)
		;
	proxy_free(proxy);
	net_tap_remove(spec->tap);
	for (const char *const *c = spec->cleanup; c && *c; c++)
		unlinkat(m.dirfd, *c, 0);
	if (spec->cleanup_cgroup)
		cgroup_remove(spec->cleanup_cgroup);
	if (spec->cleanup_tree) {
		_cleanup_free_ char *tree = xasprintf("%s/%s", spec->dir, spec->cleanup_tree);
		if (rm_rf(tree) < 0)
			fprintf(stderr, "hearth-monitor: cannot remove %s: %s\n", tree, strerror(errno));
	}
	if (record_update(m.dirfd, set_final, &f, &err) < 0) {
		fprintf(stderr, "hearth-monitor: %s\n", err->message);
		hearth_error_free(err);
	}
	_exit(0);
}

int main(int argc, char **argv)
{
	(void)argv;
	if (argc != 1 || fcntl(STATUS_FD, F_GETFD) < 0) {
		fprintf(stderr, "hearth-monitor: run by libhearth, with a spec on stdin and a status pipe on fd 3\n");
		return 2;
	}
	fcntl(STATUS_FD, F_SETFD, FD_CLOEXEC);
	_cleanup_free_ char *text = NULL;
	struct hearth_error *err = NULL;
	struct monitor_spec spec;
	json_t *json = NULL;
	if (read_fd(0, SPEC_MAX, &text, NULL) < 0 || monitor_spec_parse(text, &spec, &json, &err) < 0) {
		dprintf(STATUS_FD, "monitor: %s", err ? err->message : "cannot read its spec");
		return 1;
	}
	monitor_run(&spec, STATUS_FD);
}
