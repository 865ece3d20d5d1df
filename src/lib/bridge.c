/* The bridge's plan: its settings checked, each slot's TAP name, MAC and
 * addresses. Arithmetic only; the links themselves are bridge_link.c's. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "bridge.h"
#include "ctx.h"
#include "hearth/hearth.h"
#include "state.h"

int bridge_cfg_from_ctx(const struct hearth_ctx *ctx, struct bridge_cfg *cfg, struct hearth_error **err)
{
	if (bridge_cfg_parse(ctx_get(ctx, HEARTH_SETTING_BRIDGE), ctx_get(ctx, HEARTH_SETTING_BRIDGE_CIDR),
			     strcmp(ctx_get(ctx, HEARTH_SETTING_NAT), "1") == 0, cfg, err) < 0)
		return -1;
	cfg->root_tag = state_root_tag(ctx);
	return 0;
}

int bridge_cfg_parse(const char *name, const char *cidr, bool nat, struct bridge_cfg *cfg, struct hearth_error **err)
{
	*cfg = (struct bridge_cfg){ .nat = nat };
	if (strlen(name) >= IFNAMSIZ || strpbrk(name, "/ \t\n") || !*name)
		return fail_invalid(err, "HEARTH_BRIDGE: not an interface name (%s)", name);
	memcpy(cfg->name, name, strlen(name) + 1);
	char addr[32];
	const char *slash = strchr(cidr, '/');
	uint64_t prefix;
	if (!slash || (size_t)(slash - cidr) >= sizeof(addr) || parse_u64(slash + 1, 16, 29, &prefix) < 0)
		return fail_invalid(err, "HEARTH_BRIDGE_CIDR: want ADDR/16..29 (%s)", cidr);
	memcpy(addr, cidr, (size_t)(slash - cidr));
	addr[slash - cidr] = '\0';
	if (inet_pton(AF_INET, addr, &cfg->net) != 1)
		return fail_invalid(err, "HEARTH_BRIDGE_CIDR: not an IPv4 address (%s)", cidr);
	cfg->prefix = (unsigned)prefix;
	uint32_t mask = ~0u << (32 - cfg->prefix);
	cfg->net.s_addr = htonl(ntohl(cfg->net.s_addr) & mask);
	return 0;
}

unsigned bridge_slots(const struct bridge_cfg *cfg)
{
	/* Less the network, the gateway and the broadcast address. */
	return (1u << (32 - cfg->prefix)) - 3;
}

void net_tap_name(unsigned root_tag, int slot, char name[IFNAMSIZ])
{
	/* A slot is below 2^24 (an IPv4 subnet): 7 digits at most. */
	snprintf(name, IFNAMSIZ, "h%04xt%u", root_tag & 0xffff, (unsigned)slot & 0xffffffu);
}

void net_tap_remove_slot(unsigned root_tag, const char *recorded, int slot)
{
	char ours[IFNAMSIZ];
	if (!recorded || slot < 0)
		return;
	net_tap_name(root_tag, slot, ours);
	if (strcmp(recorded, ours) == 0)
		net_tap_remove(ours);
}

void net_plan_for_slot(const struct bridge_cfg *cfg, int slot, struct net_plan *plan)
{
	uint32_t net = ntohl(cfg->net.s_addr);
	struct in_addr gw = { htonl(net + 1) }, guest = { htonl(net + 2 + (uint32_t)slot) };
	*plan = (struct net_plan){ .br = *cfg, .slot = slot };
	net_tap_name(cfg->root_tag, slot, plan->tap);
	inet_ntop(AF_INET, &gw, plan->gateway, sizeof(plan->gateway));
	inet_ntop(AF_INET, &guest, plan->addr, sizeof(plan->addr));
	snprintf(plan->cidr, sizeof(plan->cidr), "%s/%u", plan->addr, cfg->prefix);
	const unsigned char *b = (const unsigned char *)&guest.s_addr;
	snprintf(plan->mac, sizeof(plan->mac), "06:00:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3]);
}
