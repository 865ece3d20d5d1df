/* Launching a guest's monitor: the spec goes to hearth-monitor as JSON
 * on a pipe (never in argv or a file: it may name secrets' paths), the
 * monitor is exec'd in a session of its own, detached from the caller,
 * and its first word on the status pipe says whether the VMM runs. */
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "hearth/contract.h"
#include "ctx.h"
#include "json.h"

#define STATUS_FD 3

static json_t *strings_json(const char *const *v)
{
	json_t *a = json_array();
	for (; v && *v; v++)
		json_array_append_new(a, json_string(*v));
	return a;
}

char *monitor_spec_to_json(const struct monitor_spec *spec)
{
	json_t *ports = json_array();
	for (size_t i = 0; i < spec->n_ports; i++) {
		const struct hearth_port *p = &spec->ports[i];
		json_array_append_new(ports,
				      json_pack("{s:o, s:i, s:i, s:s}", "host_addr", json_string_or_null(p->host_addr),
						"host", p->host, "guest", p->guest, "protocol",
						p->protocol == HEARTH_PROTO_UDP ? "udp" : "tcp"));
	}
	json_t *o = json_pack(
		"{s:o, s:s, s:o, s:o, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:I}", "argv",
		strings_json((const char *const *)spec->argv), "dir", spec->dir, "cleanup", strings_json(spec->cleanup),
		"cleanup_tree", json_string_or_null(spec->cleanup_tree), "vmm_name", spec->vmm_name, "vmm_log",
		json_string_or_null(spec->vmm_log), "cleanup_cgroup", json_string_or_null(spec->cleanup_cgroup), "env",
		strings_json((const char *const *)spec->env), "tap", json_string_or_null(spec->tap), "guest_addr",
		json_string_or_null(spec->guest_addr), "ports", ports, "console_max", (json_int_t)spec->console_max);
	char *text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return text;
}

/* A NULL-terminated array of the strings in A (pointing into it), or
 * NULL when A is empty. */
static const char **strings_from(json_t *a, const char *field, struct hearth_error **err)
{
	if (!json_is_array(a))
		return fail_invalid(err, "spec: %s: not an array", field), NULL;
	size_t n = json_array_size(a);
	if (n == 0)
		return NULL;
	const char **v = xcalloc(n + 1, sizeof(*v));
	for (size_t i = 0; i < n; i++)
		if (!(v[i] = json_string_value(json_array_get(a, i)))) {
			free(v);
			return fail_invalid(err, "spec: %s: not a string", field), NULL;
		}
	return v;
}

static const char *opt_string(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

int monitor_spec_parse(const char *text, struct monitor_spec *ret, json_t **ret_json, struct hearth_error **err)
{
	json_error_t jerr;
	json_t *o = json_loads(text, 0, &jerr);
	if (!json_is_object(o)) {
		json_decref(o);
		return fail_invalid(err, "spec: not a JSON object (%s)", jerr.text);
	}
	*ret = (struct monitor_spec){ .dir = opt_string(o, "dir"),
				      .cleanup_tree = opt_string(o, "cleanup_tree"),
				      .vmm_name = opt_string(o, "vmm_name"),
				      .vmm_log = opt_string(o, "vmm_log"),
				      .cleanup_cgroup = opt_string(o, "cleanup_cgroup"),
				      .tap = opt_string(o, "tap"),
				      .guest_addr = opt_string(o, "guest_addr"),
				      .console_max = (uint64_t)json_integer_value(json_object_get(o, "console_max")) };
	struct hearth_error *e = NULL;
	ret->argv = (char *const *)strings_from(json_object_get(o, "argv"), "argv", &e);
	ret->cleanup = strings_from(json_object_get(o, "cleanup"), "cleanup", &e);
	ret->env = (char *const *)strings_from(json_object_get(o, "env"), "env", &e);
	json_t *ports = json_object_get(o, "ports");
	size_t n = json_array_size(ports);
	struct hearth_port *p = n ? xcalloc(n, sizeof(*p)) : NULL;
	for (size_t i = 0; i < n; i++) {
		json_t *po = json_array_get(ports, i);
		p[i].host_addr = (char *)opt_string(po, "host_addr");
		p[i].host = (uint16_t)json_integer_value(json_object_get(po, "host"));
		p[i].guest = (uint16_t)json_integer_value(json_object_get(po, "guest"));
		const char *proto = opt_string(po, "protocol");
		p[i].protocol = proto && strcmp(proto, "udp") == 0 ? HEARTH_PROTO_UDP : HEARTH_PROTO_TCP;
	}
	ret->ports = p;
	ret->n_ports = n;
	if (!e && (!ret->argv || !ret->dir || !ret->vmm_name))
		fail_invalid(&e, "spec: argv, dir and vmm_name are required");
	if (e) {
		monitor_spec_release(ret, o);
		hearth_error_pass(err, e);
		return -1;
	}
	*ret_json = o;
	return 0;
}

int monitor_exit_code(const char *line)
{
	const char *e = strstr(line, HEARTH_EXIT_LINE);
	if (!e)
		return -1;
	char num[16];
	snprintf(num, sizeof(num), "%s", e + strlen(HEARTH_EXIT_LINE));
	num[strcspn(num, "\r\n ")] = '\0';
	uint64_t code;
	return parse_u64(num, 0, 255, &code) == 0 ? (int)code : -1;
}

void monitor_spec_release(struct monitor_spec *spec, json_t *json)
{
	free((void *)spec->argv);
	free((void *)spec->cleanup);
	free((void *)spec->env);
	free((void *)spec->ports);
	json_decref(json);
}

/* In the detached child: the spec on stdin, the status pipe on fd 3,
 * everything else closed by exec (all of libhearth's fds are CLOEXEC). */
static _Noreturn void exec_monitor(const char *monitor, int spec_fd, int status_fd)
{
	if (dup2(spec_fd, 0) < 0 || dup2(status_fd, STATUS_FD) < 0)
		_exit(127);
	/* Signals the caller ignores or blocks are not the monitor's business. */
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	char *argv[] = { (char *)"hearth-monitor", NULL };
	execv(monitor, argv);
	dprintf(STATUS_FD, "monitor: cannot run %s: %s", monitor, strerror(errno));
	_exit(127);
}

int monitor_launch(const struct hearth_ctx *ctx, const struct monitor_spec *spec, struct hearth_error **err)
{
	const char *monitor = ctx_get(ctx, HEARTH_SETTING_MONITOR);
	if (access(monitor, X_OK) < 0)
		return fail_errno(err, "monitor: %s: %s (set HEARTH_MONITOR)", monitor, strerror(errno));
	struct monitor_spec full = *spec;
	full.console_max = ctx_console_log_max(ctx);
	_cleanup_free_ char *text = monitor_spec_to_json(&full);
	/* The spec is small (a few KiB): it fits the pipe, so it is written
	 * before the fork and the monitor reads it to EOF. */
	int in[2], status[2];
	if (pipe_cloexec(in) < 0)
		return fail_errno(err, "monitor: pipe: %s", strerror(errno));
	size_t len = strlen(text);
	if (len > 60000 || write(in[1], text, len) != (ssize_t)len || pipe_cloexec(status) < 0) {
		close(in[0]);
		close(in[1]);
		return fail_runtime(err, "monitor: cannot hand over its spec (%zu bytes)", len);
	}
	close(in[1]);
	fflush(NULL);
	pid_t child = fork();
	if (child < 0) {
		int e = errno;
		close(in[0]);
		close(status[0]);
		close(status[1]);
		return hearth_fail(err, HEARTH_ERR_RUNTIME, e, "monitor: fork: %s", strerror(e));
	}
	if (child == 0) {
		/* Detach: own session, then fork again so the monitor is
		 * reparented away from the caller and never becomes its zombie. */
		setsid();
		pid_t mon = fork();
		if (mon == 0)
			exec_monitor(monitor, in[0], status[1]);
		_exit(mon < 0 ? 1 : 0);
	}
	close(in[0]);
	close(status[1]);
	while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
		;
	char msg[512];
	ssize_t n;
	while ((n = read(status[0], msg, sizeof(msg) - 1)) < 0 && errno == EINTR)
		;
	close(status[0]);
	if (n == 2 && memcmp(msg, "ok", 2) == 0)
		return 0;
	if (n <= 0)
		return fail_runtime(err, "monitor: exited before starting %s", spec->argv[0]);
	msg[n] = '\0';
	return fail_runtime(err, "%s", msg);
}
