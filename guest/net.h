/* Guest network set-up over rtnetlink (no `ip` binary in the image). */
#ifndef HEARTH_GUEST_NET_H
#define HEARTH_GUEST_NET_H

#include <stddef.h>

/* Brings interface IFNAME up. Returns 0 or -1 with errno set. */
int net_link_up(const char *ifname);

/* Adds IPV4/PREFIX to IFNAME. Returns 0 or -1 with errno set. */
int net_addr_add(const char *ifname, const char *ipv4, unsigned prefix);

/* Adds a default route via GW. Returns 0 or -1 with errno set. */
int net_route_default(const char *gw);

/* Removes every IPv4 address of IFNAME. Returns 0 or -1 with errno set. */
int net_addr_flush(const char *ifname);

/* Sets IFNAME's hardware address to the 6 bytes of MAC. */
int net_link_set_mac(const char *ifname, const unsigned char mac[6]);

#endif
