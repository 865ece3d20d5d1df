#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct nl_req {
	struct nlmsghdr hdr;
	union {
		struct ifinfomsg ifi;
		struct ifaddrmsg ifa;
		struct rtmsg rt;
	};
	char attrs[64];
};

static void nl_attr_put(struct nl_req *req, unsigned short type, const void *data, size_t len)
{
	struct rtattr *rta = (struct rtattr *)((char *)req + NLMSG_ALIGN(req->hdr.nlmsg_len));
	rta->rta_type = type;
	rta->rta_len = (unsigned short)RTA_LENGTH(len);
	memcpy(RTA_DATA(rta), data, len);
	req->hdr.nlmsg_len = NLMSG_ALIGN(req->hdr.nlmsg_len) + RTA_ALIGN(rta->rta_len);
}

/* Sends one request and waits for the kernel's acknowledgement. */
static int nl_transact(struct nl_req *req)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -1;
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	req->hdr.nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	req->hdr.nlmsg_seq = 1;
	int rc = -1;
	if (sendto(fd, req, req->hdr.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		goto out;
	char buf[4096];
	ssize_t n = recv(fd, buf, sizeof(buf), 0);
	if (n < 0)
		goto out;
	for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (unsigned)n); h = NLMSG_NEXT(h, n)) {
		if (h->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = NLMSG_DATA(h);
			if (e->error == 0) {
				rc = 0;
			} else {
				errno = -e->error;
			}
			goto out;
		}
	}
	errno = EPROTO;
out:;
	int saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

/* One RTM_NEWLINK on IFNAME: the flags in CHANGE set to FLAGS, and the
 * hardware address when MAC is not NULL. */
static int link_change(const char *ifname, unsigned flags, unsigned change, const unsigned char mac[6])
{
	unsigned idx = if_nametoindex(ifname);
	if (!idx)
		return -1;
	struct nl_req req = { 0 };
	req.hdr.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
	req.hdr.nlmsg_type = RTM_NEWLINK;
	req.ifi.ifi_family = AF_UNSPEC;
	req.ifi.ifi_index = (int)idx;
	req.ifi.ifi_flags = flags;
	req.ifi.ifi_change = change;
	if (mac)
		nl_attr_put(&req, IFLA_ADDRESS, mac, 6);
	return nl_transact(&req);
}

int net_link_up(const char *ifname)
{
	return link_change(ifname, IFF_UP, IFF_UP, NULL);
}

int net_addr_add(const char *ifname, const char *ipv4, unsigned prefix)
{
	unsigned idx = if_nametoindex(ifname);
	struct in_addr a;
	if (!idx)
		return -1;
	if (inet_pton(AF_INET, ipv4, &a) != 1 || prefix > 32) {
		errno = EINVAL;
		return -1;
	}
	struct nl_req req = { 0 };
	req.hdr.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
	req.hdr.nlmsg_type = RTM_NEWADDR;
	req.hdr.nlmsg_flags = NLM_F_CREATE | NLM_F_REPLACE;
	req.ifa.ifa_family = AF_INET;
	req.ifa.ifa_prefixlen = (unsigned char)prefix;
	req.ifa.ifa_index = idx;
	nl_attr_put(&req, IFA_LOCAL, &a, sizeof(a));
	nl_attr_put(&req, IFA_ADDRESS, &a, sizeof(a));
	return nl_transact(&req);
}

int net_route_default(const char *gw)
{
	struct in_addr a;
	if (inet_pton(AF_INET, gw, &a) != 1) {
		errno = EINVAL;
		return -1;
	}
	struct nl_req req = { 0 };
	req.hdr.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg));
	req.hdr.nlmsg_type = RTM_NEWROUTE;
	req.hdr.nlmsg_flags = NLM_F_CREATE | NLM_F_REPLACE;
	req.rt.rtm_family = AF_INET;
	req.rt.rtm_table = RT_TABLE_MAIN;
	req.rt.rtm_protocol = RTPROT_BOOT;
	req.rt.rtm_scope = RT_SCOPE_UNIVERSE;
	req.rt.rtm_type = RTN_UNICAST;
	nl_attr_put(&req, RTA_GATEWAY, &a, sizeof(a));
	return nl_transact(&req);
}

int net_link_set_mac(const char *ifname, const unsigned char mac[6])
{
	return link_change(ifname, 0, 0, mac);
}

int net_addr_flush(const char *ifname)
{
	unsigned idx = if_nametoindex(ifname);
	if (!idx)
		return -1;
	/* Deleting by index and family alone takes the first address; repeat
	 * until the kernel has none left (EADDRNOTAVAIL). */
	for (int i = 0; i < 64; i++) {
		struct nl_req req = { 0 };
		req.hdr.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
		req.hdr.nlmsg_type = RTM_DELADDR;
		req.ifa.ifa_family = AF_INET;
		req.ifa.ifa_index = idx;
		if (nl_transact(&req) < 0)
			return errno == EADDRNOTAVAIL ? 0 : -1;
	}
	return 0;
}
