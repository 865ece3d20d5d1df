/* The guest lifecycle that every backend shares: start, readiness,
 * stop, pause/resume, removal. A new guest's place is made in
 * guest_alloc.c, records are reconciled in guest_record.c, logs read in
 * guest_logs.c. */
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "backends/backend.h"
#include "agent.h"
#include "bridge.h"
#include "guest_internal.h"
#include "proc.h"
#include "state.h"

#define READY_POLL_MS 20

const char *hearth_version(void)
{
	return HEARTH_VERSION;
}

char *hearth_data_dir(void)
{
	const char *env = getenv("HEARTH_DATA_DIR");
	if (env && *env)
		return xstrdup(env);
	/* Run from the build tree, the artifacts sit beside the binary. */
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			char *dir = xasprintf("%s/guest", exe);
			_cleanup_free_ char *probe = xasprintf("%s/vmlinux", dir);
			if (access(probe, R_OK) == 0)
				return dir;
			free(dir);
		}
	}
	return xstrdup(HEARTH_DATADIR);
}

void guest_release(struct guest *g)
{
	free(g->name);
	free(g->dir);
	if (g->dirfd >= 0)
		close(g->dirfd);
	hearth_config_free(g->cfg);
	hearth_record_free(g->rec);
}

/* In the order of enum backend_networks' bits: NET_USER, NET_BRIDGE, NET_NONE. */
static const char *const network_names[] = { "user", "bridge", "none" };

/* The network mode OPTS ask for, checked against what OPS offers. */
static int network_choose(const struct hearth_backend_ops *ops, const char *want, const char **ret,
			  struct hearth_error **err)
{
	*ret = NULL;
	if (!want || strcmp(want, "auto") == 0) {
		*ret = ops->default_network;
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(network_names); i++) {
		if (strcmp(want, network_names[i]) != 0)
			continue;
		if (ops->networks & (1u << i)) {
			*ret = network_names[i];
			return 0;
		}
		struct strbuf offered = { 0 };
		for (size_t j = 0; j < ARRAY_SIZE(network_names); j++)
			if (ops->networks & (1u << j))
				strbuf_printf(&offered, "%s%s", offered.len ? " and " : "it offers ", network_names[j]);
		int rc = fail_invalid(err, "network: the %s backend has no %s mode (%s)", ops->name, want,
				      offered.len ? offered.buf : "it manages its own network");
		strbuf_release(&offered);
		return rc;
	}
	return fail_invalid(err, "network: want user, bridge or none (%s)", want);
}

/* The start is handed over: from here the monitor (or the daemon)
 * answers for the guest, whatever becomes of this process. */
static void clear_creator(struct hearth_record *rec, void *arg)
{
	(void)arg;
	rec->creator_pid = 0;
	rec->creator_start = 0;
}

static void set_failed(struct hearth_record *rec, void *arg)
{
	record_set_status(rec, HEARTH_STATUS_FAILED, arg);
}

/* Records a start that failed after its VMM ran, and says in ERR where
 * to look: every place named exists until hearth rm. */
static void keep_failed(struct guest *g, struct hearth_error **err)
{
	struct hearth_error *ignored = NULL;
	const char *why = err && *err ? (*err)->message : "start failed";
	if (record_update(g->dirfd, set_failed, (void *)why, &ignored) < 0)
		hearth_error_free(ignored);
	if (!err || !*err)
		return;
	_cleanup_free_ char *hint = xasprintf("%s: %s (kept as failed: hearth logs --hypervisor %s; hearth rm %s)",
					      g->name, (*err)->message, g->name, g->name);
	free((*err)->message);
	(*err)->message = steal(hint);
}

int guest_run_internal(struct hearth_config *cfg, const struct hearth_run_options *opts,
		       const struct guest_start *how, char **ret_name, struct hearth_error **err)
{
	const char *backend, *network;
	const char *want = opts->backend;
	/* A build with a runner runs it, unless a backend was asked for. */
	if ((!want || strcmp(want, "auto") == 0) && cfg->runner_dir)
		want = "microvm-nix";
	if (hearth_config_validate(cfg, err) < 0 || hearth_backend_choose(want, &backend, NULL, err) < 0)
		return -1;
	const struct hearth_backend_ops *ops = backend_find(backend);
	if (network_choose(ops, opts->network, &network, err) < 0)
		return -1;
	bool bridged = network && strcmp(network, "bridge") == 0;
	_cleanup_close_ int rootfd = state_root_open(err);
	if (rootfd < 0)
		return -1;
	struct net_plan plan;
	int vmfd = guest_create(rootfd, cfg, backend, network, how ? how->want_slot : -1, bridged ? &plan : NULL, err);
	if (vmfd < 0)
		return -1;
	struct guest g = { .name = xstrdup(cfg->name), .dir = state_vm_path(cfg->name), .dirfd = vmfd, .cfg = cfg,
			   .opts = opts, .net = bridged ? &plan : NULL };
	/* A jailed VMM opens its TAP as the jail's user. */
	int rc = bridged ? net_plan_attach(&plan, opts->jailer ? opts->jail_uid : getuid(), err) : 0;
	rc = rc < 0 ? -1 : record_read(vmfd, &g.rec, err);
	if (rc == 0)
		rc = how ? how->start(&g, how->arg, err) : ops->start(&g, err);
	g.cfg = NULL; /* the caller's, not ours to free */
	if (rc == 0)
		rc = record_update(vmfd, clear_creator, NULL, err);
	if (rc < 0) {
		if (bridged)
			net_tap_remove(plan.tap);
		if (g.launched) {
			/* The VMM ran: keep the guest, as failed, with the logs
			 * the error points to, until hearth rm. */
			keep_failed(&g, err);
			guest_release(&g);
			return -1;
		}
		struct hearth_error *ignored = NULL;
		if (state_vm_remove(rootfd, cfg->name, &ignored) < 0)
			hearth_error_free(ignored);
		guest_release(&g);
		return -1;
	}
	guest_release(&g);
	if (opts->wait && hearth_guest_wait_ready(cfg->name, opts->timeout_s, err) < 0)
		return -1;
	*ret_name = xstrdup(cfg->name);
	return 0;
}

int hearth_guest_run(struct hearth_config *cfg, const struct hearth_run_options *opts, char **ret_name,
		     struct hearth_error **err)
{
	return guest_run_internal(cfg, opts, NULL, ret_name, err);
}

/* The last N lines of the console, for errors. */
static char *console_tail(int vmfd, int lines)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	if (read_file_at(vmfd, "console.log", 64 << 20, &text, &len) < 0 || len == 0)
		return xstrdup("(console empty)");
	const char *p = text + len;
	int seen = 0;
	while (p > text && seen <= lines) {
		p--;
		if (*p == '\n')
			seen++;
	}
	if (*p == '\n')
		p++;
	return xstrdup(p);
}

int hearth_guest_wait_ready(const char *name, int timeout_s, struct hearth_error **err)
{
	_cleanup_close_ int vmfd = guest_dir_open(name, err);
	if (vmfd < 0)
		return -1;
	int64_t deadline = now_ms() + (int64_t)timeout_s * 1000;
	for (;;) {
		struct hearth_record *rec = NULL;
		if (guest_record(vmfd, name, &rec, err) < 0)
			return -1;
		enum hearth_status st = rec->status;
		_cleanup_free_ char *reason = rec->reason ? xstrdup(rec->reason) : NULL;
		hearth_record_free(rec);
		if (st == HEARTH_STATUS_RUNNING || st == HEARTH_STATUS_PAUSED)
			return 0;
		if (st != HEARTH_STATUS_STARTING) {
			_cleanup_free_ char *tail = console_tail(vmfd, 10);
			return fail_runtime(err, "%s: guest %s before it was ready (%s); console:\n%s", name,
					    hearth_status_name(st), reason ? reason : "no reason", tail);
		}
		if (now_ms() > deadline) {
			_cleanup_free_ char *tail = console_tail(vmfd, 10);
			struct hearth_error *ignored = NULL;
			if (hearth_guest_stop(name, 0, &ignored) < 0)
				hearth_error_free(ignored);
			return fail_runtime(err, "%s: not ready within %d s, stopped it; console:\n%s", name, timeout_s,
					    tail);
		}
		sleep_ms(READY_POLL_MS);
	}
}

int hearth_guest_get(const char *name, struct hearth_record **ret, struct hearth_error **err)
{
	_cleanup_close_ int vmfd = guest_dir_open(name, err);
	if (vmfd < 0)
		return -1;
	return guest_record(vmfd, name, ret, err);
}

int hearth_guest_list(struct hearth_record ***ret, size_t *ret_n, struct hearth_error **err)
{
	_cleanup_close_ int rootfd = state_root_open(err);
	if (rootfd < 0)
		return -1;
	char **names;
	size_t n;
	if (state_list_names(rootfd, &names, &n, err) < 0)
		return -1;
	struct hearth_record **recs = xcalloc(n, sizeof(*recs));
	size_t got = 0;
	for (size_t i = 0; i < n; i++) {
		struct hearth_error *e = NULL;
		_cleanup_close_ int vmfd = state_vm_open(rootfd, names[i], &e);
		/* A guest being created or removed right now is skipped. */
		if (vmfd >= 0 && guest_record(vmfd, names[i], &recs[got], &e) == 0)
			got++;
		hearth_error_free(e);
	}
	names_free(names, n);
	*ret = recs;
	*ret_n = got;
	return 0;
}

int hearth_guest_config(const char *name, struct hearth_config **ret, struct hearth_error **err)
{
	_cleanup_close_ int vmfd = guest_dir_open(name, err);
	if (vmfd < 0)
		return -1;
	return guest_config_read(vmfd, ret, err);
}

/* Opens NAME as a struct guest with its config and reconciled record. */
int guest_open(const char *name, struct guest *g, const struct hearth_backend_ops **ret_ops,
	       struct hearth_error **err)
{
	*g = (struct guest){ .dirfd = -1 };
	_cleanup_close_ int rootfd = state_root_open(err);
	if (rootfd < 0)
		return -1;
	g->dirfd = state_vm_open(rootfd, name, err);
	if (g->dirfd < 0)
		return -1;
	g->name = xstrdup(name);
	g->dir = state_vm_path(name);
	if (guest_record(g->dirfd, name, &g->rec, err) < 0) {
		guest_release(g);
		return -1;
	}
	if (g->rec->status == HEARTH_STATUS_BROKEN) {
		int rc = fail_runtime(err, "%s: %s (hearth rm %s removes it)", name, g->rec->reason, name);
		guest_release(g);
		return rc;
	}
	if (guest_config_read(g->dirfd, &g->cfg, err) < 0) {
		hearth_error_prefix(err, "%s: ", name);
		guest_release(g);
		return -1;
	}
	*ret_ops = backend_find(g->rec->backend);
	if (!*ret_ops) {
		int rc = fail_runtime(err, "%s: unknown backend in record (%s)", name, g->rec->backend);
		guest_release(g);
		return rc;
	}
	return 0;
}

static void set_stop_requested(struct hearth_record *rec, void *arg)
{
	(void)arg;
	rec->stop_requested = true;
}

static void set_status_arg(struct hearth_record *rec, void *arg)
{
	if (guest_status_active(rec->status))
		record_set_status(rec, *(enum hearth_status *)arg, NULL);
}

/* Waits until the monitor has exited (and so recorded the end). */
static bool wait_monitor_gone(const struct hearth_record *rec, int64_t deadline)
{
	while (proc_alive(rec->monitor_pid, rec->monitor_start)) {
		if (now_ms() > deadline)
			return false;
		sleep_ms(READY_POLL_MS);
	}
	return true;
}

int hearth_guest_stop(const char *name, int timeout_s, struct hearth_error **err)
{
	struct guest g;
	const struct hearth_backend_ops *ops;
	if (guest_open(name, &g, &ops, err) < 0)
		return -1;
	int rc = 0;
	if (!guest_status_active(g.rec->status))
		goto out;
	/* On a full disk the note cannot be written: the stop goes on
	 * (the status then says how it ended, not that it was asked). */
	struct hearth_error *unwritten = NULL;
	if (record_update(g.dirfd, set_stop_requested, NULL, &unwritten) < 0)
		hearth_error_free(unwritten);
	if (ops->stop) {
		rc = ops->stop(&g, timeout_s, err);
		goto out;
	}
	struct hearth_error *soft = NULL;
	if (g.rec->status == HEARTH_STATUS_PAUSED && ops->resume && ops->resume(&g, &soft) < 0)
		hearth_error_free(steal(soft));
	bool asked = timeout_s > 0 && ops->request_stop(&g, &soft) == 0;
	hearth_error_free(steal(soft));
	if (asked && wait_monitor_gone(g.rec, now_ms() + (int64_t)timeout_s * 1000))
		goto out;
	if (ops->force_stop(&g, &soft) < 0)
		hearth_error_free(steal(soft));
	if (wait_monitor_gone(g.rec, now_ms() + 5000))
		goto out;
	/* The VMM ignores us: kill it; the monitor records the end. */
	if (proc_alive(g.rec->vmm_pid, g.rec->vmm_start))
		kill(g.rec->vmm_pid, SIGKILL);
	if (!wait_monitor_gone(g.rec, now_ms() + 5000))
		rc = fail_runtime(err, "%s: the guest did not stop (monitor pid %d)", name, g.rec->monitor_pid);
out:
	guest_release(&g);
	return rc;
}

int hearth_guest_ping(const char *name, struct hearth_error **err)
{
	struct hearth_record *rec = NULL;
	if (hearth_guest_get(name, &rec, err) < 0)
		return -1;
	_cleanup_free_ char *reply = NULL;
	int rc = 0;
	if (rec->status != HEARTH_STATUS_RUNNING)
		rc = fail_invalid(err, "%s: guest is %s, not running", name, hearth_status_name(rec->status));
	else if (agent_request(rec, "ping", &reply, err) < 0)
		rc = -1;
	else if (strcmp(reply, "pong") != 0)
		rc = fail_runtime(err, "%s: agent ping: unexpected answer (%s)", name, reply);
	hearth_record_free(rec);
	return rc;
}

static int pause_resume(const char *name, bool pause, struct hearth_error **err)
{
	struct guest g;
	const struct hearth_backend_ops *ops;
	if (guest_open(name, &g, &ops, err) < 0)
		return -1;
	int rc;
	enum hearth_status want = pause ? HEARTH_STATUS_PAUSED : HEARTH_STATUS_RUNNING;
	enum hearth_status from = pause ? HEARTH_STATUS_RUNNING : HEARTH_STATUS_PAUSED;
	int (*op)(struct guest *, struct hearth_error **) = pause ? ops->pause : ops->resume;
	if (!op)
		rc = fail_invalid(err, "%s: %s is not supported by the %s backend", name, pause ? "pause" : "resume",
				  ops->name);
	else if (g.rec->status != from)
		rc = fail_invalid(err, "%s: guest is %s, not %s", name, hearth_status_name(g.rec->status),
				  hearth_status_name(from));
	else if ((rc = op(&g, err)) == 0)
		rc = record_update(g.dirfd, set_status_arg, &want, err);
	guest_release(&g);
	return rc;
}

int hearth_guest_pause(const char *name, struct hearth_error **err)
{
	return pause_resume(name, true, err);
}

int hearth_guest_resume(const char *name, struct hearth_error **err)
{
	return pause_resume(name, false, err);
}

int hearth_guest_remove(const char *name, bool force, struct hearth_error **err)
{
	struct hearth_record *rec = NULL;
	if (hearth_guest_get(name, &rec, err) < 0)
		return -1;
	bool active = guest_status_active(rec->status);
	bool broken = rec->status == HEARTH_STATUS_BROKEN;
	hearth_record_free(rec);
	if (active && !force)
		return fail_invalid(err, "%s: guest is running; stop it first or use -f", name);
	if (active && hearth_guest_stop(name, 0, err) < 0)
		return -1;
	struct guest g;
	const struct hearth_backend_ops *ops;
	/* A broken guest's files say nothing to act on: only they go. */
	if (!broken) {
		if (guest_open(name, &g, &ops, err) < 0)
			return -1;
		/* A monitor still recording the end (its VMM just died) would
		 * write into the directory being removed. */
		wait_monitor_gone(g.rec, now_ms() + 5000);
		int rc = ops->remove ? ops->remove(&g, err) : 0;
		/* The monitor removes the TAP; one killed outright leaves it to us. */
		net_tap_remove_slot(g.rec->tap, g.rec->net_slot);
		guest_release(&g);
		if (rc < 0)
			return -1;
	}
	_cleanup_close_ int rootfd = state_root_open(err);
	if (rootfd < 0)
		return -1;
	_cleanup_close_ int lock = state_lock(rootfd, err);
	if (lock < 0)
		return -1;
	return state_vm_remove(rootfd, name, err);
}
