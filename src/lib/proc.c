#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#ifdef __APPLE__
#include <sys/sysctl.h>
#endif

#ifdef __APPLE__
/* macOS has no /proc: the kernel's process table through sysctl, the
 * start time in microseconds. */
static bool proc_info(pid_t pid, uint64_t *ret_start, bool *ret_zombie)
{
	struct kinfo_proc kp;
	size_t len = sizeof(kp);
	int mib[4] = { CTL_KERN, KERN_PROC, KERN_PROC_PID, pid };
	if (pid <= 0 || sysctl(mib, 4, &kp, &len, NULL, 0) < 0 || len == 0)
		return false;
	const struct timeval *tv = &kp.kp_proc.p_starttime;
	*ret_start = (uint64_t)tv->tv_sec * 1000000 + (uint64_t)tv->tv_usec;
	*ret_zombie = kp.kp_proc.p_stat == SZOMB;
	return true;
}
#else
/* Field 22 of /proc/PID/stat (clock ticks since boot) and the state. */
static bool proc_info(pid_t pid, uint64_t *ret_start, bool *ret_zombie)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	_cleanup_free_ char *stat = NULL;
	if (pid <= 0 || read_file_at(AT_FDCWD, path, 4096, &stat, NULL) < 0)
		return false;
	/* The command name may hold spaces and ')': fields start after the last ')'. */
	char *p = strrchr(stat, ')');
	if (!p || p[1] != ' ')
		return false;
	*ret_zombie = p[2] == 'Z' || p[2] == 'X';
	p++;
	for (int field = 3; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	if (!p)
		return false;
	*ret_start = strtoull(p + 1, NULL, 10);
	return true;
}
#endif

uint64_t proc_start_time(pid_t pid)
{
	uint64_t start;
	bool zombie;
	return proc_info(pid, &start, &zombie) ? start : 0;
}

bool proc_alive(pid_t pid, uint64_t start)
{
	uint64_t now;
	bool zombie;
	/* A zombie is gone for our purposes. */
	return pid > 0 && start != 0 && proc_info(pid, &now, &zombie) && now == start && !zombie;
}

char *proc_find_program(const char *prog)
{
	if (strchr(prog, '/'))
		return access(prog, X_OK) == 0 ? xstrdup(prog) : NULL;
	const char *path = getenv("PATH");
	_cleanup_free_ char *copy = xstrdup(path && *path ? path : "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin");
	for (char *save = NULL, *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		char *full = xasprintf("%s/%s", dir, prog);
		struct stat st;
		if (stat(full, &st) == 0 && S_ISREG(st.st_mode) && access(full, X_OK) == 0)
			return full;
		free(full);
	}
	return NULL;
}

int proc_run(char *const argv[], int timeout_ms, char **ret_output, struct hearth_error **err)
{
	return proc_run_hook(argv, timeout_ms, ret_output, NULL, NULL, err);
}

int proc_run_hook(char *const argv[], int timeout_ms, char **ret_output, int (*hook)(void *arg), void *arg,
		  struct hearth_error **err)
{
	int out[2];
	if (pipe_cloexec(out) < 0)
		return fail_errno(err, "pipe: %s", strerror(errno));
	pid_t pid = fork();
	if (pid < 0) {
		close(out[0]);
		close(out[1]);
		return fail_errno(err, "fork: %s", strerror(errno));
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(out[1], 1) < 0 || dup2(out[1], 2) < 0)
			_exit(127);
		if (hook && hook(arg) < 0)
			_exit(127); /* the hook said why on stderr */
		execvp(argv[0], argv);
		dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(out[1]);
	struct strbuf sb = { 0 };
	strbuf_append(&sb, "", 0);
	int64_t deadline = timeout_ms > 0 ? now_ms() + timeout_ms : 0;
	bool killed = false;
	for (;;) {
		int wait = -1;
		if (deadline) {
			int64_t left = deadline - now_ms();
			wait = left > 0 ? (int)left : 0;
		}
		struct pollfd pfd = { out[0], POLLIN, 0 };
		int n = poll(&pfd, 1, wait);
		if (n == 0) {
			kill(pid, SIGKILL);
			killed = true;
			break;
		}
		if (n < 0 && errno == EINTR)
			continue;
		char buf[4096];
		ssize_t r = read(out[0], buf, sizeof(buf));
		if (r <= 0)
			break;
		if (sb.len < (1 << 20))
			strbuf_append(&sb, buf, (size_t)r);
	}
	close(out[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (ret_output)
		*ret_output = sb.buf;
	else
		strbuf_release(&sb);
	if (killed)
		return 128 + SIGKILL;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
