/* Bridge networking where there is none (macOS): TAPs and netlink are
 * Linux's, and no backend built there offers the bridge, so these are
 * reached only by `hearth network`. */
#include "bridge.h"

int net_plan_attach(const struct net_plan *plan, uid_t owner, struct hearth_error **err)
{
	(void)owner;
	return fail_invalid(err, "network: bridge networking needs Linux (TAP %s)", plan->tap);
}

void net_tap_remove(const char *tap)
{
	(void)tap; /* none was ever made */
}

int bridge_remove(const struct bridge_cfg *cfg, struct hearth_error **err)
{
	(void)cfg;
	(void)err;
	return 0; /* there is none */
}

bool bridge_exists(const struct bridge_cfg *cfg)
{
	(void)cfg;
	return false;
}
