/* The bridge's links on Linux (netlink through libmnl, iptables for NAT):
 * the bridge made on first use, a TAP per guest, removal. Elsewhere
 * bridge_none.c says there is no bridge networking. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "bridge.h"
#include "ctx.h"
#include "netlink.h"
#include "proc.h"
#include "state.h"

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

bool bridge_exists(const struct bridge_cfg *cfg)
{
	return nl_link_exists(cfg->name);
}
