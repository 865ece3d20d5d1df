/* The network mode of a new guest: what the caller asks for, checked
 * against what its backend offers. */
#include <string.h>

#include "core.h"

/* In the order of enum backend_networks' bits: NET_USER, NET_BRIDGE, NET_NONE. */
static const char *const network_names[] = { "user", "bridge", "none" };

/* The network mode OPTS ask for, checked against what OPS offers. */
int network_choose(const struct hearth_backend_ops *ops, const char *want, const char **ret, struct hearth_error **err)
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
