/* hearth start: a stopped guest up again in its own state directory,
 * with its start configuration, name, ports, bridge slot and (for a
 * persistent guest) its own disk; an ephemeral guest starts from its
 * rootfs as it was. */
#include <string.h>

#include "core.h"
#include "lib/proc.h"
#include "lib/state.h"

/* "starting" again, the last run's outcome cleared. */
static void mark_restart(struct hearth_record *rec, void *arg)
{
	(void)arg;
	record_set_status(rec, HEARTH_STATUS_STARTING, NULL);
	rec->exit_code = -1;
	rec->stopped_at = 0;
	rec->started_at = now_unix();
	rec->stop_requested = false;
	rec->agent_ready = false;
	rec->probe_ok = false;
	rec->monitor_pid = rec->vmm_pid = 0;
	rec->creator_pid = getpid();
	rec->creator_start = proc_start_time(getpid());
}

int hearth_guest_start(struct hearth_ctx *ctx, const char *name, const struct hearth_run_options *opts,
		       struct hearth_error **err)
{
	struct guest g;
	const struct hearth_backend_ops *ops;
	if (guest_open(ctx, name, &g, &ops, err) < 0)
		return -1;
	int rc = 0;
	_cleanup_free_ char *workload = NULL;
	struct hearth_run_options run = *opts;
	run.jailer = g.rec->jailer; /* as it first ran */
	run.jail_uid = g.rec->jail_uid;
	run.jail_gid = g.rec->jail_gid;
	if (ops->needs_runner)
		rc = fail_invalid(err, "%s: start: a microvm.nix runner's guest is started by running it again", name);
	else if (guest_status_active(g.rec->status))
		rc = fail_conflict(err, "%s: guest is %s already", name, hearth_status_name(g.rec->status));
	else if (hearth_config_validate(ctx, g.cfg, err) < 0)
		rc = -1;
	else if (g.cfg->image && !ops->image_prepare && !(workload = image_workload_json(ctx, g.cfg, err)))
		rc = -1;
	if (rc < 0) {
		guest_release(&g);
		return -1;
	}
	/* Two starts at once: one wins, under the lock. */
	_cleanup_close_ int rootfd = state_root_open(ctx, err);
	int lock = rootfd < 0 ? -1 : state_lock(rootfd, err);
	struct hearth_record *now = NULL;
	if (lock < 0 || guest_record(ctx, g.dirfd, name, &now, NULL, err) < 0)
		rc = -1;
	else if (guest_status_active(now->status))
		rc = fail_conflict(err, "%s: guest is %s already", name, hearth_status_name(now->status));
	else
		rc = record_update(g.dirfd, mark_restart, NULL, err);
	record_free(now);
	if (lock >= 0)
		close(lock);
	if (rc < 0) {
		guest_release(&g);
		return -1;
	}
	struct net_plan plan;
	bool bridged = g.rec->net_slot >= 0;
	if (rc == 0 && bridged) {
		struct bridge_cfg bc;
		if (bridge_cfg_from_ctx(ctx, &bc, err) < 0)
			rc = -1;
		else {
			net_plan_for_slot(&bc, g.rec->net_slot, &plan);
			g.net = &plan;
			rc = net_plan_attach(&plan, run.jailer ? run.jail_uid : getuid(), err);
		}
	}
	record_free(g.rec);
	g.rec = NULL;
	if (rc == 0)
		rc = record_read(g.dirfd, &g.rec, err);
	g.opts = &run;
	g.workload_json = workload;
	g.restart = true;
	if (rc == 0)
		rc = ops->start(&g, err);
	if (rc == 0)
		rc = record_update(g.dirfd, guest_clear_creator, NULL, err);
	if (rc < 0) {
		if (bridged && g.net)
			net_tap_remove(plan.tap);
		guest_keep_failed(&g, err); /* its state stays, as before the start */
		guest_release(&g);
		return -1;
	}
	guest_release(&g);
	return opts->wait ? hearth_guest_wait_ready(ctx, name, opts->timeout_s, err) : 0;
}
