/* Links and addresses over rtnetlink (libmnl), and TAP devices: what
 * bridge networking needs, no more. Every call names the interface in
 * its error. */
#ifndef HEARTH_NETLINK_H
#define HEARTH_NETLINK_H

#include <netinet/in.h>

#include "util.h"

/* Creates bridge NAME (no error if one exists already). */
int nl_bridge_create(const char *name, struct hearth_error **err) WUR;

/* Adds ADDR/PREFIX to NAME, keeping it if it is there already. */
int nl_addr_add(const char *name, struct in_addr addr, unsigned prefix, struct hearth_error **err) WUR;

/* Enslaves NAME to MASTER (when not NULL) and sets it up. */
int nl_link_up(const char *name, const char *master, struct hearth_error **err) WUR;

/* Deletes link NAME; a missing link is not an error. */
int nl_link_delete(const char *name, struct hearth_error **err) WUR;

bool nl_link_exists(const char *name);

/* Creates persistent TAP NAME (IFF_TAP|IFF_NO_PI|IFF_VNET_HDR) that any
 * VMM running as OWNER_UID may open. */
int tap_create(const char *name, uid_t owner_uid, struct hearth_error **err) WUR;

#endif
