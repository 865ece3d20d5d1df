/* The bridge as a whole: what `hearth network` shows and removes. */
#include <arpa/inet.h>
#include <string.h>

#include "core.h"
#include "lib/bridge.h"
#include "hearth/hearth.h"

char *hearth_network_describe(struct hearth_ctx *ctx, struct hearth_error **err)
{
	struct bridge_cfg bc;
	if (bridge_cfg_from_ctx(ctx, &bc, err) < 0)
		return NULL;
	char net[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &bc.net, net, sizeof(net));
	return xasprintf("%s %s/%u %s", bc.name, net, bc.prefix, bridge_exists(&bc) ? "up" : "absent");
}

int hearth_network_remove(struct hearth_ctx *ctx, struct hearth_error **err)
{
	struct bridge_cfg bc;
	if (bridge_cfg_from_ctx(ctx, &bc, err) < 0)
		return -1;
	struct hearth_record **recs;
	size_t n;
	if (guest_list(ctx, &recs, NULL, &n, err) < 0)
		return -1;
	const char *busy = NULL;
	for (size_t i = 0; i < n && !busy; i++) {
		const struct hearth_record *r = recs[i];
		bool up = guest_status_active(r->status);
		if (up && r->bridge && strcmp(r->bridge, bc.name) == 0)
			busy = r->name;
	}
	int rc = busy ? fail_conflict(err, "network: guest %s is still on bridge %s", busy, bc.name)
		      : bridge_remove(&bc, err);
	records_free(recs, n);
	return rc;
}
