/* The Apple container backend: Apple's `container` tool (lightweight
 * VMs on Virtualization.framework, macOS 15+) driven through its CLI,
 * as the Docker backend drives the Engine API. Apple offers no other
 * stable interface. The tool supervises the guest: status comes from
 * `container inspect`, never from a copy of ours. Written to the CLI's
 * 1.2.2 reference; the flags sent are all in it. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "apple_container.h"
#include "container_ready.h"
#include "engine_files.h"
#include "hearth/contract.h"
#include "lib/json.h"
#include "lib/monitor.h"
#include "lib/proc.h"

#define CLI "container"

/* The tool's first line of complaint, without its "Error: " prefix. */
static const char *complaint(const char *text)
{
	static _Thread_local char line[512];
	const char *s = text ? text : "";
	while (*s == '\n' || *s == ' ')
		s++;
	if (str_has_prefix(s, "Error: "))
		s += 7;
	snprintf(line, sizeof(line), "%.*s", (int)strcspn(s, "\n"), s);
	return line[0] ? line : "no message";
}

struct stderr_to {
	int fd;
};

static int redirect_stderr(void *arg)
{
	struct stderr_to *t = arg;
	return dup2(t->fd, STDERR_FILENO) < 0 ? -1 : 0;
}

int ac_call(char *const argv[], int timeout_ms, char **ret_out, struct hearth_error **err)
{
	/* stdout alone is the answer (JSON); stderr says why it failed. */
	FILE *errf = tmpfile();
	if (!errf)
		return fail_errno(err, "apple-container: temporary file: %s", strerror(errno));
	struct stderr_to t = { .fd = fileno(errf) };
	_cleanup_free_ char *out = NULL;
	int status = proc_run_hook(argv, timeout_ms, &out, redirect_stderr, &t, err);
	if (status < 0) {
		fclose(errf);
		return -1;
	}
	if (status != 0) {
		char msg[4096] = "";
		rewind(errf);
		size_t n = fread(msg, 1, sizeof(msg) - 1, errf);
		msg[n] = '\0';
		fclose(errf);
		/* The subcommand, then the tool's own words. */
		hearth_fail(err, strstr(msg, "not found") ? HEARTH_ERR_NOT_FOUND : HEARTH_ERR_RUNTIME, EIO,
			    "apple-container: container %s %s: %s", argv[1], argv[2] ? argv[2] : "",
			    complaint(n ? msg : out));
		return status;
	}
	fclose(errf);
	if (ret_out)
		*ret_out = steal(out);
	return 0;
}

/* What `container ARGS...` printed, parsed as JSON. */
static json_t *ac_json(char *const argv[], int timeout_ms, struct hearth_error **err)
{
	_cleanup_free_ char *out = NULL;
	if (ac_call(argv, timeout_ms, &out, err) != 0)
		return NULL;
	json_error_t je;
	json_t *v = json_loads(out, JSON_DECODE_ANY, &je);
	if (!v)
		fail_runtime(err, "apple-container: container %s: not JSON: %s", argv[1], je.text);
	return v;
}

static void ac_probe(struct hearth_ctx *ctx, struct hearth_backend_info *info, bool full)
{
	(void)ctx;
	_cleanup_free_ char *prog = proc_find_program(CLI);
	if (!prog) {
#ifdef __APPLE__
		info->reason =
			xstrdup("no `container` on PATH: install Apple's container tool (github.com/apple/container)");
#else
		info->reason =
			xstrdup("not macOS: Apple's container tool runs on macOS 15 or later (no `container` on PATH)");
#endif
		return;
	}
	char *status_argv[] = { CLI, "system", "status", "--format", "json", NULL };
	struct hearth_error *e = NULL;
	_cleanup_free_ char *out = NULL;
	int rc = ac_call(status_argv, AC_PROBE_MS, &out, &e);
	if (rc < 0) {
		info->reason = xasprintf("%s: %s", prog, e->message);
		hearth_error_free(e);
		return;
	}
	hearth_error_free(e);
	/* Not running, it prints its JSON all the same, and exits 1. */
	json_t *st = rc == 0 ? json_loads(out, 0, NULL) : NULL;
	const char *state = json_string_value(json_object_get(st, "status"));
	if (!state || strcmp(state, "running") != 0) {
		info->reason = xasprintf("container system not started: run `container system start` (status: %s)",
					 state ? state : "not running");
		json_decref(st);
		return;
	}
	info->available = true;
	info->reason =
		xasprintf("container system running at %s", json_string_value(json_object_get(st, "appRoot")) ?: prog);
	json_decref(st);
	if (!full)
		return;
	char *version_argv[] = { CLI, "system", "version", "--format", "json", NULL };
	json_t *v = ac_json(version_argv, AC_PROBE_MS, NULL);
	size_t i;
	json_t *c;
	json_array_foreach(v, i, c)
	{
		if (json_is_string(json_object_get(c, "version")) &&
		    strcmp(json_string_value(json_object_get(c, "appName")) ?: "", "container") == 0)
			info->version = xstrdup(json_string_value(json_object_get(c, "version")));
	}
	json_decref(v);
}

/* A guest's container ID is its name: the tool names the guest's host
 * after it (it has no --hostname), and the contract wants the name.
 * hearth's own carry the label hearth.managed; no other is touched. */
static bool hearth_managed(json_t *c)
{
	json_t *labels = json_object_get(json_object_get(c, "configuration"), "labels");
	return json_is_string(json_object_get(labels, "hearth.managed"));
}

/* `container inspect NAME`'s one entry when it is hearth's; NULL with
 * *ERR NULL when there is none (or not ours). */
static json_t *inspect(const char *name, json_t **ret_list, struct hearth_error **err)
{
	char *argv[] = { CLI, "inspect", (char *)name, NULL };
	struct hearth_error *e = NULL;
	*ret_list = ac_json(argv, AC_CALL_MS, &e);
	json_t *c = json_array_get(*ret_list, 0);
	if (c && hearth_managed(c))
		return c;
	if (e && e->kind != HEARTH_ERR_NOT_FOUND)
		*err = e;
	else
		hearth_error_free(e);
	return NULL;
}

/* `container run -d` for G: every field of its configuration mapped. */
void ac_run_argv(const struct guest *g, const char *image, struct strv *a)
{
	const struct hearth_config *cfg = g->cfg;
	strv_add(a, xstrdup(CLI));
	strv_add(a, xstrdup("run"));
	strv_add(a, xstrdup("--detach"));
	strv_addf(a, "--name=%s", g->name);
	strv_addf(a, "--cpus=%u", cfg->cpus);
	strv_addf(a, "--memory=%lluM", (unsigned long long)cfg->memory_mib);
	strv_add(a, xstrdup("--label=hearth.managed=true"));
	strv_addf(a, "--label=hearth.name=%s", g->name);
	if (cfg->revision_hash)
		strv_addf(a, "--label=hearth.revision=%s", cfg->revision_hash);
	if (cfg->flake_ref)
		strv_addf(a, "--label=hearth.flake_ref=%s", cfg->flake_ref);
	if (cfg->profile)
		strv_addf(a, "--label=hearth.profile=%s", cfg->profile);
	if (cfg->image)
		strv_addf(a, "--label=hearth.image=%s", cfg->image);
	strv_addf(a, "--env=HEARTH_NAME=%s", g->name);
	strv_add(a, xstrdup("--env=HEARTH_CONTAINER=1"));
	struct strbuf vols = { 0 };
	strbuf_append(&vols, "", 0);
	for (size_t i = 0; i < cfg->n_volumes; i++)
		strbuf_printf(&vols, "%s%s", i ? " " : "", cfg->volumes[i].guest);
	strv_addf(a, "--env=HEARTH_VOLUMES=%s", vols.buf);
	strbuf_release(&vols);
	for (size_t i = 0; i < cfg->n_ports; i++) {
		const struct hearth_port *p = &cfg->ports[i];
		strv_addf(a, "--publish=%s:%u:%u/%s", p->host_addr ? p->host_addr : "127.0.0.1", p->host, p->guest,
			  p->protocol == HEARTH_PROTO_UDP ? "udp" : "tcp");
	}
	strv_addf(a, "--volume=%s/config:/mnt/config:ro", g->dir);
	strv_addf(a, "--volume=%s/secrets:/mnt/secrets:ro", g->dir);
	for (size_t i = 0; i < cfg->n_volumes; i++) {
		const struct hearth_volume *v = &cfg->volumes[i];
		if (strchr(v->host, '/'))
			strv_addf(a, "--volume=%s:%s%s", v->host, v->guest, v->read_only ? ":ro" : "");
		else /* a named volume: the tool makes it on first use */
			strv_addf(a, "--mount=type=volume,source=%s,target=%s%s", v->host, v->guest,
				  v->read_only ? ",readonly" : "");
	}
	/* The agent's sockets live in the guest's own tmpfs; hearth reaches
	 * them through `container exec` (the relay). */
	strv_add(a, xstrdup("--tmpfs=" HEARTH_CONTAINER_AGENT_DIR));
	strv_addf(a, "--entrypoint=%s", ac_init_path(cfg));
	if (cfg->image) {
		/* hearth-init runs as root; it takes the image's user and
		 * working directory from workload.json for the workload. */
		strv_add(a, xstrdup("--uid=0"));
		strv_add(a, xstrdup("--gid=0"));
		strv_add(a, xstrdup("--workdir=/"));
	}
	strv_add(a, xstrdup(image));
}

const char *ac_init_path(const struct hearth_config *cfg)
{
	return cfg && cfg->image ? HEARTH_IMAGE_INIT : "/sbin/init";
}

/* Named volumes made with `container volume create` (of their size,
 * where the configuration gives one) unless the tool has them already. */
static int volumes_ensure(const struct hearth_config *cfg, struct hearth_error **err)
{
	for (size_t i = 0; i < cfg->n_volumes; i++) {
		const struct hearth_volume *v = &cfg->volumes[i];
		if (strchr(v->host, '/'))
			continue;
		char *inspect[] = { CLI, "volume", "inspect", v->host, NULL };
		struct hearth_error *e = NULL;
		int rc = ac_call(inspect, AC_CALL_MS, NULL, &e);
		if (rc == 0)
			continue;
		if (rc < 0 || e->kind != HEARTH_ERR_NOT_FOUND) {
			hearth_error_prefix(&e, "volumes: ");
			hearth_error_pass(err, e);
			return -1;
		}
		hearth_error_free(e);
		struct strv create = { 0 };
		strv_add(&create, xstrdup(CLI));
		strv_add(&create, xstrdup("volume"));
		strv_add(&create, xstrdup("create"));
		strv_add(&create, xstrdup("--label=hearth.managed=true"));
		if (v->size) { /* else the tool's default size */
			strv_add(&create, xstrdup("-s"));
			strv_addf(&create, "%llu", (unsigned long long)v->size);
		}
		strv_add(&create, xstrdup(v->host));
		rc = ac_call(create.v, AC_CALL_MS, NULL, err);
		strv_free(&create);
		if (rc != 0) {
			hearth_error_prefix(err, "volumes: ");
			return -1;
		}
	}
	return 0;
}

static void container_delete(const char *name)
{
	json_t *list = NULL;
	struct hearth_error *e = NULL;
	if (inspect(name, &list, &e)) {
		char *argv[] = { CLI, "delete", "--force", (char *)name, NULL };
		IGNORE_FAILURE(ac_call(argv, AC_CALL_MS, NULL, NULL));
	}
	hearth_error_free(e);
	json_decref(list);
}

static int run(struct guest *g, const char *image, struct hearth_error **err)
{
	struct strv a = { 0 };
	ac_run_argv(g, image, &a);
	int rc = ac_call(a.v, AC_START_MS, NULL, err);
	strv_free(&a);
	return rc;
}

static int ac_start(struct guest *g, struct hearth_error **err)
{
	const struct hearth_config *cfg = g->cfg;
	if (engine_volumes_check(cfg, "apple-container", err) < 0)
		return -1;
	bool keep = g->restart && hearth_config_persistent(cfg);
	if (g->restart && !keep)
		container_delete(g->name);
	/* Secrets: a directory only its owner can enter, files 0400,
	 * shared read-only and removed with the guest's state. */
	if (engine_files_write(g, g->workload_json, err) < 0)
		return -1;
	if (keep) {
		char *argv[] = { CLI, "start", g->name, NULL };
		return ac_call(argv, AC_START_MS, NULL, err) == 0 ? 0 : -1;
	}
	bool trusted = true;
	_cleanup_free_ char *image = ac_ensure_image(g, &trusted, err);
	if (!image || volumes_ensure(cfg, err) < 0)
		return -1;
	struct hearth_error *e = NULL;
	int rc = run(g, image, &e);
	if (rc != 0 && trusted) {
		/* The image taken on trust may be gone: asked for, loaded when
		 * missing, and the run tried once more. */
		container_delete(g->name);
		ac_image_forget(g->ctx, image);
		free(image);
		hearth_error_free(e);
		e = NULL;
		trusted = false;
		if (!(image = ac_ensure_image(g, &trusted, err)))
			return -1;
		rc = run(g, image, &e);
	}
	if (rc == 0)
		return 0;
	container_delete(g->name); /* made, maybe, before it failed */
	if (strstr(e->message, "address already in use") || strstr(e->message, "port is already allocated")) {
		e->kind = HEARTH_ERR_CONFLICT;
		hearth_error_prefix(&e, "ports: host port in use: ");
	}
	hearth_error_pass(err, e);
	return -1;
}

/* The whole log, in one piece, to SINK. */
static int ac_read_log(struct guest *g, int (*sink)(const char *data, size_t len, void *arg), void *arg)
{
	char *argv[] = { CLI, "logs", g->name, NULL };
	_cleanup_free_ char *out = NULL;
	if (ac_call(argv, AC_CALL_MS, &out, NULL) != 0)
		return -1;
	sink(out, strlen(out), arg);
	return 0;
}

static int collect(const char *data, size_t len, void *arg)
{
	strbuf_append(arg, data, len);
	return 0;
}

/* The workload's exit code: the tool reports none, hearth-init's last
 * exit line says it. Read once per start (a marker keyed by STARTED). */
static int exit_code(struct guest *g, const char *started)
{
	_cleanup_free_ char *marker = NULL;
	size_t slen = strlen(started);
	if (read_file_at(g->dirfd, "exit-code", 256, &marker, NULL) == 0 && strncmp(marker, started, slen) == 0 &&
	    marker[slen] == ' ') {
		uint64_t code;
		return parse_u64(marker + slen + 1, 0, 255, &code) == 0 ? (int)code : -1;
	}
	struct strbuf out = { 0 };
	if (ac_read_log(g, collect, &out) < 0 || !out.buf) {
		strbuf_release(&out);
		return -1;
	}
	int code = -1;
	for (char *line = out.buf; line && *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		int c = monitor_exit_code(line);
		if (c >= 0)
			code = c;
		line = nl ? nl + 1 : NULL;
	}
	if (code >= 0) {
		_cleanup_free_ char *text = xasprintf("%s %d", started, code);
		IGNORE_FAILURE(write_file_atomic_at(g->dirfd, "exit-code", text, strlen(text), 0600));
	}
	strbuf_release(&out);
	return code;
}

static int ac_refresh(struct guest *g, struct hearth_record *rec, struct hearth_error **err)
{
	json_t *list = NULL;
	struct hearth_error *e = NULL;
	json_t *c = inspect(g->name, &list, &e);
	if (!c) {
		json_decref(list);
		if (e) {
			*err = e;
			return -1;
		}
		_cleanup_free_ char *why = xasprintf("container %s is gone", g->name);
		record_set_status(rec, HEARTH_STATUS_FAILED, why);
		return 0;
	}
	json_t *status = json_object_get(c, "status");
	const char *state = json_string_value(json_object_get(status, "state")) ?: "unknown";
	const char *started = json_string_value(json_object_get(status, "startedDate")) ?: "";
	json_t *att = json_array_get(json_object_get(status, "networks"), 0);
	const char *ip = json_string_value(json_object_get(att, "ipv4Address"));
	const char *gw = json_string_value(json_object_get(att, "ipv4Gateway"));
	free(rec->guest_ip);
	rec->guest_ip = ip && *ip ? xstrdup(ip) : NULL; /* CIDR already */
	free(rec->gateway);
	rec->gateway = gw && *gw ? xstrdup(gw) : NULL;
	rec->exit_code = -1;
	rec->stopped_at = 0;
	if (strcmp(state, "running") == 0) {
		bool ready = container_ready_as_probed(g, rec, started, ac_read_log);
		record_set_status(rec, ready ? HEARTH_STATUS_RUNNING : HEARTH_STATUS_STARTING, NULL);
	} else if (strcmp(state, "stopping") == 0) {
		record_set_status(rec, HEARTH_STATUS_RUNNING, NULL); /* until it is down */
	} else if (strcmp(state, "stopped") == 0 && !*started && rec->creator_pid > 0 &&
		   !proc_alive(rec->creator_pid, rec->creator_start)) {
		record_set_status(rec, HEARTH_STATUS_FAILED,
				  "start interrupted: the command starting it ended before handing it over");
	} else if (strcmp(state, "stopped") == 0 && !*started) {
		record_set_status(rec, HEARTH_STATUS_STARTING, NULL);
	} else if (strcmp(state, "stopped") == 0) {
		int code = exit_code(g, started);
		_cleanup_free_ char *why = rec->stop_requested ? xstrdup("stopped by request")
					   : code >= 0	       ? xasprintf("exited on its own with code %d", code)
							       : xstrdup("exited on its own");
		record_set_status(rec, HEARTH_STATUS_STOPPED, why);
		rec->exit_code = code;
		rec->agent_ready = container_log_ready(g, started, NULL, ac_read_log);
	} else {
		_cleanup_free_ char *why = xasprintf("the container tool reports it %s", state);
		record_set_status(rec, HEARTH_STATUS_FAILED, why);
	}
	json_decref(list);
	return 0;
}

static int ac_stop(struct guest *g, int timeout_s, struct hearth_error **err)
{
	/* No time at all: killed outright. */
	if (timeout_s == 0) {
		char *argv[] = { CLI, "kill", g->name, NULL };
		return ac_call(argv, AC_CALL_MS, NULL, err) == 0 ? 0 : -1;
	}
	char t[16];
	snprintf(t, sizeof(t), "%d", timeout_s);
	/* SIGTERM (hearth-init stops the workload), SIGKILL after T. */
	char *argv[] = { CLI, "stop", "--time", t, g->name, NULL };
	return ac_call(argv, timeout_s * 1000 + AC_CALL_MS, NULL, err) == 0 ? 0 : -1;
}

static int ac_remove(struct guest *g, struct hearth_error **err)
{
	(void)err;
	container_delete(g->name); /* gone already is fine */
	return 0;
}

struct to_fd {
	int fd;
};

static int stdout_to(void *arg)
{
	return dup2(((struct to_fd *)arg)->fd, STDOUT_FILENO) < 0 ? -1 : 0;
}

static int ac_logs(struct guest *g, uint64_t lines, bool follow, int fd, struct hearth_error **err)
{
	char n[24];
	snprintf(n, sizeof(n), "%llu", lines == LOGS_FROM_NOW ? 0ULL : (unsigned long long)lines);
	char *argv[8];
	size_t i = 0;
	argv[i++] = CLI;
	argv[i++] = "logs";
	if (lines) {
		argv[i++] = "-n";
		argv[i++] = n;
	}
	if (follow)
		argv[i++] = "--follow";
	argv[i++] = g->name;
	argv[i] = NULL;
	/* The log straight to FD; what comes back is the tool's complaint.
	 * FD copied above 2 first: the child's 1 and 2 are the pipe by the
	 * time the hook runs. */
	_cleanup_close_ int target = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (target < 0)
		return fail_errno(err, "apple-container: logs: %s", strerror(errno));
	struct to_fd t = { .fd = target };
	_cleanup_free_ char *out = NULL;
	int rc = proc_run_hook(argv, 0, &out, stdout_to, &t, err);
	if (rc < 0)
		return -1;
	if (rc != 0 && !strstr(out, "not found"))
		return fail_runtime(err, "apple-container: container logs: %s", complaint(out));
	return 0;
}

/* The guest agent's socket WHICH ("session" or "agent"), carried by
 * `container exec -i` running hearth-init's relay: the tool offers no
 * socket into the VM. */
static int relay_open(struct guest *g, const char *which, struct hearth_error **err)
{
	int sv[2];
	if (socketpair_cloexec(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return fail_errno(err, "apple-container: socketpair: %s", strerror(errno));
	const char *init = ac_init_path(g->cfg);
	/* Twice forked: the relay belongs to no one, so it leaves no zombie
	 * in a caller that never waits. */
	pid_t pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return fail_errno(err, "apple-container: fork: %s", strerror(errno));
	}
	if (pid == 0) {
		if (fork() != 0)
			_exit(0);
		int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (dup2(sv[1], STDIN_FILENO) < 0 || dup2(sv[1], STDOUT_FILENO) < 0 ||
		    (devnull >= 0 && dup2(devnull, STDERR_FILENO) < 0))
			_exit(127);
		signal(SIGPIPE, SIG_DFL);
		execlp(CLI, CLI, "exec", "--interactive", g->name, init, "relay", which, (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	return sv[0];
}

static int ac_session_open(struct guest *g, int *ret_lock, struct hearth_error **err)
{
	(void)ret_lock;
	return relay_open(g, "session", err);
}

static int ac_agent_open(struct guest *g, struct hearth_error **err)
{
	return relay_open(g, "agent", err);
}

const struct hearth_backend_ops apple_container_backend = {
	.name = "apple-container",
	.networks = NET_OWN,
	.caps = 0, /* the tool has no pause, no snapshots */
#ifndef __APPLE__
	.explicit_only = true, /* a `container` on PATH off macOS is not Apple's */
#endif
	.probe = ac_probe,
	.start = ac_start,
	.refresh = ac_refresh,
	.stop = ac_stop,
	.remove = ac_remove,
	.logs = ac_logs,
	.session_open = ac_session_open,
	.agent_open = ac_agent_open,
};
