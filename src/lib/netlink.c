#include "netlink.h"

#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <net/if.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#define NL_BUF 8192 /* one request or its ack */

/* Sends one request and waits for its acknowledgement. */
static int nl_talk(struct nlmsghdr *nlh, const char *what, const char *ifname, struct hearth_error **err)
{
	struct mnl_socket *nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!nl)
		return fail_errno(err, "network: netlink: %s", strerror(errno));
	int rc = -1;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		fail_errno(err, "network: netlink bind: %s", strerror(errno));
		goto out;
	}
	unsigned portid = mnl_socket_get_portid(nl);
	nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = (unsigned)time(NULL);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		fail_errno(err, "network: %s %s: %s", what, ifname, strerror(errno));
		goto out;
	}
	char buf[NL_BUF] = { 0 };
	ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
	/* The ack is an NLMSG_ERROR; mnl_cb_run turns a nonzero one into errno. */
	if (n < 0 || mnl_cb_run(buf, (size_t)n, nlh->nlmsg_seq, portid, NULL, NULL) < 0) {
		fail_errno(err, "network: %s %s: %s", what, ifname, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	mnl_socket_close(nl);
	return rc;
}

static struct ifinfomsg *link_msg(char *buf, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = flags;
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	return ifm;
}

static int if_index(const char *name, struct hearth_error **err)
{
	unsigned idx = if_nametoindex(name);
	if (idx == 0)
		return fail_errno(err, "network: no interface %s: %s", name, strerror(errno));
	return (int)idx;
}

bool nl_link_exists(const char *name)
{
	return if_nametoindex(name) != 0;
}

int nl_bridge_create(const char *name, struct hearth_error **err)
{
	if (nl_link_exists(name))
		return 0;
	char buf[NL_BUF] = { 0 };
	link_msg(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
	struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	struct nlattr *info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "bridge");
	mnl_attr_nest_end(nlh, info);
	/* Two starts may race to create it: the loser finds it made. */
	struct hearth_error *e = NULL;
	if (nl_talk(nlh, "create bridge", name, &e) < 0 && e->code != EEXIST) {
		hearth_error_pass(err, e);
		return -1;
	}
	hearth_error_free(e);
	return 0;
}

int nl_addr_add(const char *name, struct in_addr addr, unsigned prefix, struct hearth_error **err)
{
	int idx = if_index(name, err);
	if (idx < 0)
		return -1;
	char buf[NL_BUF] = { 0 };
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_NEWADDR;
	nlh->nlmsg_flags = NLM_F_CREATE | NLM_F_REPLACE;
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = (unsigned char)prefix;
	ifa->ifa_index = (unsigned)idx;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	mnl_attr_put_u32(nlh, IFA_LOCAL, addr.s_addr);
	mnl_attr_put_u32(nlh, IFA_ADDRESS, addr.s_addr);
	return nl_talk(nlh, "add address to", name, err);
}

int nl_link_up(const char *name, const char *master, struct hearth_error **err)
{
	int idx = if_index(name, err);
	if (idx < 0)
		return -1;
	int midx = 0;
	if (master && (midx = if_index(master, err)) < 0)
		return -1;
	char buf[NL_BUF] = { 0 };
	struct ifinfomsg *ifm = link_msg(buf, RTM_NEWLINK, 0);
	ifm->ifi_index = idx;
	ifm->ifi_flags = IFF_UP;
	ifm->ifi_change = IFF_UP;
	struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
	if (master)
		mnl_attr_put_u32(nlh, IFLA_MASTER, (uint32_t)midx);
	return nl_talk(nlh, "set up", name, err);
}

int nl_link_delete(const char *name, struct hearth_error **err)
{
	unsigned idx = if_nametoindex(name);
	if (idx == 0)
		return 0;
	char buf[NL_BUF] = { 0 };
	struct ifinfomsg *ifm = link_msg(buf, RTM_DELLINK, 0);
	ifm->ifi_index = (int)idx;
	struct hearth_error *e = NULL;
	if (nl_talk((struct nlmsghdr *)buf, "delete", name, &e) < 0 && e->code != ENODEV) {
		hearth_error_pass(err, e);
		return -1;
	}
	hearth_error_free(e); /* gone already: what was asked */
	return 0;
}

int tap_create(const char *name, uid_t owner_uid, struct hearth_error **err)
{
	if (strlen(name) >= IFNAMSIZ)
		return fail_invalid(err, "network: interface name too long (%s)", name);
	_cleanup_close_ int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return fail_errno(err, "network: /dev/net/tun: %s", strerror(errno));
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	memcpy(ifr.ifr_name, name, strlen(name));
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		return fail_errno(err, "network: create tap %s: %s", name, strerror(errno));
	if (ioctl(fd, TUNSETOWNER, (unsigned long)owner_uid) < 0 || ioctl(fd, TUNSETPERSIST, 1) < 0)
		return fail_errno(err, "network: make tap %s persistent: %s", name, strerror(errno));
	return 0;
}
