#include "bridge.h"
#include "state.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "hearth/hearth.h"
#include "ctx.h"
#include "netlink.h"
#include "proc.h"

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

static int write_proc(const char *path, const char *value, struct hearth_error **err)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, value, strlen(value)) < 0)
		return fail_errno(err, "network: %s: %s", path, strerror(errno));
	return 0;
}

/* iptables -t nat {-C|-A|-D} POSTROUTING: our one rule per bridge. */
static int nat_rule(const struct bridge_cfg *cfg, const char *op)
{
	char net[INET_ADDRSTRLEN], src[40];
	inet_ntop(AF_INET, &cfg->net, net, sizeof(net));
	snprintf(src, sizeof(src), "%s/%u", net, cfg->prefix);
	_cleanup_free_ char *iptables = proc_find_program("iptables");
	if (!iptables)
		return -2;
	char *argv[] = { iptables,     "-w", "-t",	"nat",	     (char *)op,	"POSTROUTING",
			 "-s",	       src,  "!",	"-o",	     (char *)cfg->name, "-j",
			 "MASQUERADE", "-m", "comment", "--comment", "hearth",		NULL };
	return proc_run(argv, 10000, NULL, NULL) == 0 ? 0 : -1;
}

#define IP_FORWARD "/proc/sys/net/ipv4/ip_forward"
/* Kept on the bridge itself (its alias), so the note lives exactly as
 * long as the bridge, in the bridge's own network namespace. */
#define FORWARD_NOTE "hearth: ip_forward was 0"

static char *ifalias_path(const struct bridge_cfg *cfg)
{
	return xasprintf("/sys/class/net/%s/ifalias", cfg->name);
}

/* Turns forwarding on for NAT, noting on the bridge when it was off, so
 * that network rm puts back what hearth changed. */
static int forwarding_on(const struct bridge_cfg *cfg, struct hearth_error **err)
{
	_cleanup_free_ char *was = NULL;
	if (read_file_at(AT_FDCWD, IP_FORWARD, 16, &was, NULL) < 0)
		return fail_errno(err, "network: %s: %s", IP_FORWARD, strerror(errno));
	if (was[0] != '0')
		return 0;
	_cleanup_free_ char *alias = ifalias_path(cfg);
	if (write_proc(alias, FORWARD_NOTE, err) < 0)
		return -1;
	return write_proc(IP_FORWARD, "1", err);
}

static bool forwarding_noted(const struct bridge_cfg *cfg)
{
	_cleanup_free_ char *alias = ifalias_path(cfg);
	_cleanup_free_ char *note = NULL;
	return read_file_at(AT_FDCWD, alias, 256, &note, NULL) == 0 && str_has_prefix(note, FORWARD_NOTE);
}

static int bridge_ensure(const struct bridge_cfg *cfg, struct hearth_error **err)
{
	struct in_addr gw = { htonl(ntohl(cfg->net.s_addr) + 1) };
	if (nl_bridge_create(cfg->name, err) < 0 || nl_addr_add(cfg->name, gw, cfg->prefix, err) < 0 ||
	    nl_link_up(cfg->name, NULL, err) < 0)
		return -1;
	if (!cfg->nat)
		return 0;
	if (forwarding_on(cfg, err) < 0)
		return -1;
	int rc = nat_rule(cfg, "-C");
	if (rc == -2)
		return fail_runtime(err, "network: HEARTH_NAT=1 needs iptables (apt-get install iptables)");
	if (rc < 0 && nat_rule(cfg, "-A") < 0)
		return fail_runtime(err, "network: iptables could not add the NAT rule for %s", cfg->name);
	return 0;
}

int net_plan_attach(const struct net_plan *plan, uid_t owner, struct hearth_error **err)
{
	if (bridge_ensure(&plan->br, err) < 0)
		return -1;
	/* The slot is ours (given under the state lock): a TAP by its name
	 * is left from a guest whose monitor was killed. */
	if (nl_link_delete(plan->tap, err) < 0 || tap_create(plan->tap, owner, err) < 0)
		return -1;
	if (nl_link_up(plan->tap, plan->br.name, err) < 0) {
		net_tap_remove(plan->tap);
		return -1;
	}
	return 0;
}

void net_tap_remove(const char *tap)
{
	if (tap && *tap)
		IGNORE_FAILURE(nl_link_delete(tap, NULL));
}

int bridge_remove(const struct bridge_cfg *cfg, struct hearth_error **err)
{
	bool restore = forwarding_noted(cfg);
	while (nat_rule(cfg, "-C") == 0)
		if (nat_rule(cfg, "-D") < 0)
			return fail_runtime(err, "network: iptables could not delete the NAT rule for %s", cfg->name);
	if (nl_link_delete(cfg->name, err) < 0)
		return -1;
	return restore ? write_proc(IP_FORWARD, "0", err) : 0;
}
