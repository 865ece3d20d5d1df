/* The guest lifecycle that every backend shares: start, readiness,
 * stop, pause/resume, removal. A new guest's place is made in
 * guest_alloc.c, records are reconciled in guest_record.c, logs read in
 * guest_logs.c. */
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "backends/backend.h"
#include "lib/agent.h"
#include "lib/bridge.h"
#include "core.h"
#include "lib/proc.h"
#include "lib/state.h"

#define READY_POLL_MS 20

const char *hearth_version(void)
{
	return HEARTH_VERSION;
}

void guest_release(struct guest *g)
{
	free(g->name);
	free(g->dir);
	if (g->dirfd >= 0)
		close(g->dirfd);
	hearth_config_free(g->cfg);
	record_free(g->rec);
	json_decref(g->snapshot_facts);
}

int guest_get(struct hearth_ctx *ctx, const char *name, struct hearth_record **ret, struct hearth_config **ret_cfg,
	      struct hearth_error **err)
{
	_cleanup_close_ int vmfd = guest_dir_open(ctx, name, err);
	if (vmfd < 0)
		return -1;
	return guest_record(ctx, vmfd, name, ret, ret_cfg, err);
}

int guest_list(struct hearth_ctx *ctx, struct hearth_record ***ret, struct hearth_config ***ret_cfgs, size_t *ret_n,
	       struct hearth_error **err)
{
	_cleanup_close_ int rootfd = state_root_open(ctx, err);
	if (rootfd < 0)
		return -1;
	char **names;
	size_t n;
	if (state_list_names(rootfd, &names, &n, err) < 0)
		return -1;
	struct hearth_record **recs = xcalloc(n ? n : 1, sizeof(*recs));
	struct hearth_config **cfgs = ret_cfgs ? xcalloc(n ? n : 1, sizeof(*cfgs)) : NULL;
	size_t got = 0;
	for (size_t i = 0; i < n; i++) {
		_cleanup_close_ int vmfd = state_vm_open(rootfd, names[i], NULL);
		/* A guest being created or removed right now is skipped. */
		if (vmfd >= 0 && guest_record(ctx, vmfd, names[i], &recs[got], cfgs ? &cfgs[got] : NULL, NULL) == 0)
			got++;
	}
	names_free(names, n);
	*ret = recs;
	if (ret_cfgs)
		*ret_cfgs = cfgs;
	*ret_n = got;
	return 0;
}

/* A guest still starting whose probe is the core's: one look. */
static void probe_once(struct hearth_ctx *ctx, struct hearth_record *rec, bool allow_exec)
{
	if (rec->status != HEARTH_STATUS_STARTING || !rec->ready)
		return;
	int vmfd = guest_dir_open(ctx, rec->name, NULL);
	char *why = NULL;
	if (vmfd >= 0)
		guest_probe(ctx, vmfd, rec, allow_exec, &why);
	free(why);
	if (vmfd >= 0)
		close(vmfd);
}

int hearth_guest_get(struct hearth_ctx *ctx, const char *name, struct hearth_guest **ret, struct hearth_error **err)
{
	struct hearth_record *rec;
	struct hearth_config *cfg;
	if (guest_get(ctx, name, &rec, &cfg, err) < 0)
		return -1;
	probe_once(ctx, rec, true);
	*ret = record_view_new(rec, cfg);
	return 0;
}

int hearth_guest_list(struct hearth_ctx *ctx, struct hearth_guest ***ret, size_t *ret_n, struct hearth_error **err)
{
	struct hearth_record **recs;
	struct hearth_config **cfgs;
	size_t n;
	if (guest_list(ctx, &recs, &cfgs, &n, err) < 0)
		return -1;
	struct hearth_guest **views = xcalloc(n ? n : 1, sizeof(*views));
	for (size_t i = 0; i < n; i++) {
		probe_once(ctx, recs[i], false); /* an exec probe is `status`'s and `run`'s: ps stays quick */
		views[i] = record_view_new(recs[i], cfgs[i]);
	}
	free(recs);
	free(cfgs);
	*ret = views;
	*ret_n = n;
	return 0;
}

int hearth_guest_config(struct hearth_ctx *ctx, const char *name, struct hearth_config **ret, struct hearth_error **err)
{
	_cleanup_close_ int vmfd = guest_dir_open(ctx, name, err);
	if (vmfd < 0)
		return -1;
	return guest_config_read(vmfd, ret, err);
}

/* Opens NAME as a struct guest with its config and reconciled record. */
int guest_open(struct hearth_ctx *ctx, const char *name, struct guest *g, const struct hearth_backend_ops **ret_ops,
	       struct hearth_error **err)
{
	*g = (struct guest){ .ctx = ctx, .dirfd = -1 };
	_cleanup_close_ int rootfd = state_root_open(ctx, err);
	if (rootfd < 0)
		return -1;
	g->dirfd = state_vm_open(rootfd, name, err);
	if (g->dirfd < 0)
		return -1;
	g->name = xstrdup(name);
	g->dir = state_vm_path(ctx, name);
	if (guest_record(ctx, g->dirfd, name, &g->rec, NULL, err) < 0) {
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

int hearth_guest_stop(struct hearth_ctx *ctx, const char *name, int timeout_s, struct hearth_error **err)
{
	struct guest g;
	const struct hearth_backend_ops *ops;
	if (guest_open(ctx, name, &g, &ops, err) < 0)
		return -1;
	int rc = 0;
	if (!guest_status_active(g.rec->status))
		goto out;
	/* On a full disk the note cannot be written: the stop goes on
	 * (the status then says how it ended, not that it was asked). */
	IGNORE_FAILURE(record_update(g.dirfd, set_stop_requested, NULL, NULL));
	if (ops->stop) {
		rc = ops->stop(&g, timeout_s, err);
		goto out;
	}
	/* Each step may fail; the next one is the answer to that. */
	if (g.rec->status == HEARTH_STATUS_PAUSED && ops->resume)
		IGNORE_FAILURE(ops->resume(&g, NULL));
	bool asked = timeout_s > 0 && ops->request_stop(&g, NULL) == 0;
	if (asked && wait_monitor_gone(g.rec, now_ms() + (int64_t)timeout_s * 1000))
		goto out;
	IGNORE_FAILURE(ops->force_stop(&g, NULL));
	if (wait_monitor_gone(g.rec, now_ms() + 5000))
		goto out;
	/* The VMM ignores us: kill it; the monitor records the end. */
	record_kill_vmm(g.rec);
	if (!wait_monitor_gone(g.rec, now_ms() + 5000))
		rc = fail_runtime(err, "%s: the guest did not stop (monitor pid %d)", name, g.rec->monitor_pid);
out:
	guest_release(&g);
	return rc;
}

int hearth_guest_ping(struct hearth_ctx *ctx, const char *name, struct hearth_error **err)
{
	struct hearth_record *rec = NULL;
	struct hearth_config *cfg = NULL;
	if (guest_get(ctx, name, &rec, &cfg, err) < 0)
		return -1;
	_cleanup_free_ char *reply = NULL;
	int rc = 0;
	const struct hearth_backend_ops *ops = backend_find(rec->backend);
	if (rec->status != HEARTH_STATUS_RUNNING) {
		rc = fail_conflict(err, "%s: guest is %s, not running", name, hearth_status_name(rec->status));
	} else if (ops && ops->agent_open) {
		/* No socket of the agent's on the host: the backend carries it. */
		struct guest g = { .ctx = ctx, .name = (char *)name, .cfg = cfg, .rec = rec, .dirfd = -1 };
		_cleanup_close_ int fd = ops->agent_open(&g, err);
		if (fd < 0 || agent_exchange(fd, rec, "ping", &reply, err) < 0)
			rc = -1;
	} else if (agent_request(rec, "ping", &reply, err) < 0) {
		rc = -1;
	}
	if (rc == 0 && strcmp(reply, "pong") != 0)
		rc = fail_runtime(err, "%s: agent ping: unexpected answer (%s)", name, reply);
	record_free(rec);
	hearth_config_free(cfg);
	return rc;
}

static int pause_resume(struct hearth_ctx *ctx, const char *name, bool pause, struct hearth_error **err)
{
	struct guest g;
	const struct hearth_backend_ops *ops;
	if (guest_open(ctx, name, &g, &ops, err) < 0)
		return -1;
	int rc;
	enum hearth_status want = pause ? HEARTH_STATUS_PAUSED : HEARTH_STATUS_RUNNING;
	enum hearth_status from = pause ? HEARTH_STATUS_RUNNING : HEARTH_STATUS_PAUSED;
	int (*op)(struct guest *, struct hearth_error **) = pause ? ops->pause : ops->resume;
	if (!op)
		rc = fail_invalid(err, "%s: %s is not supported by the %s backend", name, pause ? "pause" : "resume",
				  ops->name);
	else if (g.rec->status != from)
		rc = fail_conflict(err, "%s: guest is %s, not %s", name, hearth_status_name(g.rec->status),
				   hearth_status_name(from));
	else if ((rc = op(&g, err)) == 0)
		rc = record_update(g.dirfd, set_status_arg, &want, err);
	guest_release(&g);
	return rc;
}

int hearth_guest_pause(struct hearth_ctx *ctx, const char *name, struct hearth_error **err)
{
	return pause_resume(ctx, name, true, err);
}

int hearth_guest_resume(struct hearth_ctx *ctx, const char *name, struct hearth_error **err)
{
	return pause_resume(ctx, name, false, err);
}

int hearth_guest_remove(struct hearth_ctx *ctx, const char *name, bool force, struct hearth_error **err)
{
	struct hearth_record *rec = NULL;
	if (guest_get(ctx, name, &rec, NULL, err) < 0)
		return -1;
	bool active = guest_status_active(rec->status);
	bool broken = rec->status == HEARTH_STATUS_BROKEN;
	_cleanup_free_ char *origin = rec->origin ? xstrdup(rec->origin) : NULL;
	record_free(rec);
	if (active && !force)
		return fail_conflict(err, "%s: guest is running; stop it first or use -f", name);
	if (active && hearth_guest_stop(ctx, name, 0, err) < 0)
		return -1;
	struct guest g;
	const struct hearth_backend_ops *ops;
	/* A broken guest's files say nothing to act on: only they go. */
	if (!broken) {
		if (guest_open(ctx, name, &g, &ops, err) < 0)
			return -1;
		/* A monitor still recording the end (its VMM just died) would
		 * write into the directory being removed. */
		wait_monitor_gone(g.rec, now_ms() + 5000);
		int rc = ops->remove ? ops->remove(&g, err) : 0;
		/* The monitor removes the TAP; one killed outright leaves it to us. */
		net_tap_remove_slot(state_root_tag(ctx), g.rec->tap, g.rec->net_slot);
		guest_release(&g);
		if (rc < 0)
			return -1;
	}
	_cleanup_close_ int rootfd = state_root_open(ctx, err);
	if (rootfd < 0)
		return -1;
	_cleanup_close_ int lock = state_lock(rootfd, err);
	if (lock < 0 || state_vm_remove(rootfd, name, err) < 0)
		return -1;
	template_forget_clone(ctx, origin);
	return 0;
}
