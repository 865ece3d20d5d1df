/* Starting a guest: from a validated start configuration to a VMM
 * under its monitor, and the wait for the guest's ready line. */
#include <string.h>

#include "core.h"
#include "lib/state.h"

#define READY_POLL_MS 20

void guest_clear_creator(struct hearth_record *rec, void *arg)
{
	(void)arg;
	rec->creator_pid = 0;
	rec->creator_start = 0;
}

/* A jailed guest runs jailed again at hearth start. */
static void set_jail(struct hearth_record *rec, void *arg)
{
	const struct hearth_run_options *o = arg;
	free(rec->jailer);
	rec->jailer = xstrdup(o->jailer);
	rec->jail_uid = o->jail_uid;
	rec->jail_gid = o->jail_gid;
}

static void set_failed(struct hearth_record *rec, void *arg)
{
	record_set_status(rec, HEARTH_STATUS_FAILED, arg);
}

void guest_keep_failed(struct guest *g, struct hearth_error **err)
{
	const char *why = err && *err ? (*err)->message : "start failed";
	IGNORE_FAILURE(record_update(g->dirfd, set_failed, (void *)why, NULL));
	if (!err || !*err)
		return;
	_cleanup_free_ char *hint = xasprintf("%s: %s (kept as failed: hearth logs --hypervisor %s; hearth rm %s)",
					      g->name, (*err)->message, g->name, g->name);
	free((*err)->message);
	(*err)->message = steal(hint);
}

/* A tcp or http probe must reach the guest's port from the host: under
 * QEMU's user-mode network only a published port does. */
static int ready_reachable(const struct hearth_config *cfg, const char *network, struct hearth_error **err)
{
	struct hearth_ready pr;
	if (hearth_ready_parse(cfg->ready, &pr, err) < 0)
		return -1;
	if ((pr.kind != HEARTH_READY_TCP && pr.kind != HEARTH_READY_HTTP) || !network || strcmp(network, "user") != 0)
		return 0;
	for (size_t i = 0; i < cfg->n_ports; i++)
		if (cfg->ports[i].guest == pr.port && cfg->ports[i].protocol == HEARTH_PROTO_TCP)
			return 0;
	return fail_invalid(err,
			    "ready: the guest's port %u is not published (-p HOST:%u) and its user-mode "
			    "network has no address the host reaches (%s)",
			    pr.port, pr.port, cfg->ready);
}

static void set_origin(struct hearth_record *rec, void *arg)
{
	free(rec->origin);
	rec->origin = xstrdup(arg);
}

/* The probe this start can meet. A held workload prints and serves
 * nothing until a restore lets it go: its builder waits for hearth-init's
 * ready line. A snapshot's running workload printed its log line before
 * the snapshot: the ready line after the new identity stands for it. */
static void set_start_probe(struct hearth_record *rec, void *arg)
{
	const struct guest_start *how = arg;
	struct hearth_ready pr;
	bool logged = how->workload_ran && hearth_ready_parse(rec->ready, &pr, NULL) == 0 && pr.kind == HEARTH_READY_LOG;
	rec->held = how->hold;
	if (how->hold || logged) {
		free(rec->ready);
		rec->ready = NULL;
	}
}

static void set_running(struct hearth_record *rec, void *arg)
{
	(void)arg;
	record_set_status(rec, HEARTH_STATUS_RUNNING, NULL);
}

/* The backend loads the snapshot; a backend whose guests take a new
 * identity gets it sent (hearth-init then says ready again), else a
 * snapshot of a ready guest is running at once. */
static int restore_start(struct guest *g, const struct hearth_backend_ops *ops, const struct guest_start *how,
			 struct hearth_error **err)
{
	if (ops->snapshot_restore(g, how->snapshot, err) < 0)
		return -1;
	if (!how->snapshot_ready)
		return 0; /* still booting: it comes up with the name it booted with */
	if (ops->caps & HEARTH_CAP_TEMPLATES)
		return guest_identity_send(g, how->own_drives, err);
	return record_update(g->dirfd, set_running, NULL, err);
}

int guest_run_internal(struct hearth_ctx *ctx, struct hearth_config *cfg, const struct hearth_run_options *opts,
		       const struct guest_start *how, char **ret_name, struct hearth_error **err)
{
	const char *backend, *network;
	if (hearth_config_validate(ctx, cfg, err) < 0 || backend_for(ctx, cfg, opts->backend, &backend, err) < 0)
		return -1;
	const struct hearth_backend_ops *ops = backend_find(backend);
	/* A fresh start finds an image again; a restore brings its disk. */
	_cleanup_free_ char *workload = NULL;
	bool restore = how && how->snapshot;
	if (cfg->image && !restore) {
		if (ops->needs_runner)
			return fail_invalid(err, "image: the %s backend runs a runner's own guest (%s)", ops->name,
					    cfg->image);
		if (ops->image_prepare
			    ? ops->image_prepare(ctx, cfg, err) < 0
			    : image_prepare(ctx, cfg, err) < 0 || !(workload = image_workload_json(ctx, cfg, err)))
			return -1;
	}
	if (network_choose(ops, opts->network, &network, err) < 0)
		return -1;
	bool bridged = network && strcmp(network, "bridge") == 0;
	if (ready_reachable(cfg, network, err) < 0)
		return -1;
	_cleanup_close_ int rootfd = state_root_open(ctx, err);
	if (rootfd < 0)
		return -1;
	struct net_plan plan;
	int vmfd = guest_create(ctx, rootfd, cfg, backend, network, how ? how->want_slot : -1, bridged ? &plan : NULL,
				err);
	if (vmfd < 0)
		return -1;
	struct guest g = { .ctx = ctx,
			   .name = xstrdup(cfg->name),
			   .dir = state_vm_path(ctx, cfg->name),
			   .dirfd = vmfd,
			   .cfg = cfg,
			   .opts = opts,
			   .net = bridged ? &plan : NULL,
			   .workload_json = workload,
			   .hold = how && how->hold,
			   .own_drives = how && how->own_drives,
			   .snapshot_facts = restore ? json_incref(how->facts) : NULL };
	/* A jailed VMM opens its TAP as the jail's user. */
	int rc = bridged ? net_plan_attach(&plan, opts->jailer ? opts->jail_uid : getuid(), err) : 0;
	if (rc == 0 && opts->jailer)
		rc = record_update(vmfd, set_jail, (void *)opts, err);
	if (rc == 0 && how && (how->hold || how->workload_ran))
		rc = record_update(vmfd, set_start_probe, (void *)how, err);
	rc = rc < 0 ? -1 : record_read(vmfd, &g.rec, err);
	if (rc == 0 && how && how->origin)
		rc = record_update(vmfd, set_origin, (void *)how->origin, err);
	if (rc == 0)
		rc = restore ? restore_start(&g, ops, how, err) : ops->start(&g, err);
	g.cfg = NULL; /* the caller's, not ours to free */
	if (rc == 0)
		rc = record_update(vmfd, guest_clear_creator, NULL, err);
	if (rc < 0) {
		if (bridged)
			net_tap_remove(plan.tap);
		if (g.launched) {
			/* The VMM ran: keep the guest, as failed, with the logs
			 * the error points to, until hearth rm. */
			guest_keep_failed(&g, err);
			guest_release(&g);
			return -1;
		}
		IGNORE_FAILURE(state_vm_remove(rootfd, cfg->name, NULL));
		guest_release(&g);
		return -1;
	}
	guest_release(&g);
	if (opts->wait && hearth_guest_wait_ready(ctx, cfg->name, opts->timeout_s, err) < 0)
		return -1;
	*ret_name = xstrdup(cfg->name);
	return 0;
}

int hearth_guest_run(struct hearth_ctx *ctx, struct hearth_config *cfg, const struct hearth_run_options *opts,
		     char **ret_name, struct hearth_error **err)
{
	return guest_run_internal(ctx, cfg, opts, NULL, ret_name, err);
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

int hearth_guest_wait_ready(struct hearth_ctx *ctx, const char *name, int timeout_s, struct hearth_error **err)
{
	_cleanup_close_ int vmfd = guest_dir_open(ctx, name, err);
	if (vmfd < 0)
		return -1;
	int64_t deadline = now_ms() + (int64_t)timeout_s * 1000;
	_cleanup_free_ char *probe_why = NULL;
	for (;;) {
		struct hearth_record *rec = NULL;
		if (guest_record(ctx, vmfd, name, &rec, NULL, err) < 0)
			return -1;
		char *why = NULL;
		if (guest_probe(ctx, vmfd, rec, true, &why) == 0 && why) {
			free(probe_why);
			probe_why = xasprintf("%s: %s", rec->ready, why);
		}
		free(why);
		enum hearth_status st = rec->status;
		_cleanup_free_ char *reason = rec->reason ? xstrdup(rec->reason) : NULL;
		struct hearth_ready pr;
		/* A guest whose workload ended at once: ready all the same when
		 * hearth-init said so and that is all its probe asks. */
		bool done_ready = st == HEARTH_STATUS_STOPPED && rec->agent_ready &&
				  hearth_ready_parse(rec->ready, &pr, NULL) == 0 &&
				  (pr.kind == HEARTH_READY_AGENT || pr.kind == HEARTH_READY_NONE);
		record_free(rec);
		if (st == HEARTH_STATUS_RUNNING || st == HEARTH_STATUS_PAUSED || done_ready)
			return 0;
		if (st != HEARTH_STATUS_STARTING) {
			_cleanup_free_ char *tail = console_tail(vmfd, 10);
			return fail_runtime(err, "%s: guest %s before it was ready (%s); console:\n%s", name,
					    hearth_status_name(st), reason ? reason : "no reason", tail);
		}
		if (now_ms() > deadline) {
			_cleanup_free_ char *tail = console_tail(vmfd, 10);
			IGNORE_FAILURE(hearth_guest_stop(ctx, name, 0, NULL));
			if (probe_why)
				return fail_runtime(err,
						    "%s: not ready within %d s (ready %s), stopped it; console:\n%s",
						    name, timeout_s, probe_why, tail);
			return fail_runtime(err, "%s: not ready within %d s, stopped it; console:\n%s", name, timeout_s,
					    tail);
		}
		sleep_ms(READY_POLL_MS);
	}
}
