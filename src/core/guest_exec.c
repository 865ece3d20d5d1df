/* hearth exec: a command in a running guest, through its agent. */
#include <string.h>

#include "core.h"
#include "lib/agent_exec.h"

int guest_exec(struct hearth_ctx *ctx, const char *name, const struct hearth_exec *ex, bool starting_too,
	       int *ret_status, struct hearth_error **err)
{
	*ret_status = -1;
	if (!ex->argv || !ex->argv[0] || !*ex->argv[0])
		return fail_invalid(err, "exec: no command given");
	struct guest g;
	const struct hearth_backend_ops *ops;
	if (guest_open(ctx, name, &g, &ops, err) < 0)
		return -1;
	int rc = 0, lock = -1, fd = -1;
	if (!ops->session_open)
		rc = fail_invalid(err, "%s: exec: the %s backend has no guest agent", name, ops->name);
	else if (g.rec->status != HEARTH_STATUS_RUNNING && !(starting_too && g.rec->status == HEARTH_STATUS_STARTING))
		rc = fail_conflict(err, "%s: guest is %s, not running", name, hearth_status_name(g.rec->status));
	else if ((fd = ops->session_open(&g, &lock, err)) < 0)
		rc = -1;
	if (rc == 0 && agent_exec_run(fd, ex, ret_status, err) < 0)
		rc = -1;
	if (rc < 0)
		hearth_error_prefix(err, "%s: ", name);
	if (fd >= 0)
		close(fd);
	if (lock >= 0)
		close(lock);
	guest_release(&g);
	return rc;
}

int hearth_guest_exec(struct hearth_ctx *ctx, const char *name, const struct hearth_exec *ex, int *ret_status,
		      struct hearth_error **err)
{
	return guest_exec(ctx, name, ex, false, ret_status, err);
}
