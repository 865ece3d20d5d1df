/* The port proxy of a bridged guest, run inside its monitor: tcp and udp
 * from a host address and port to the guest's address and port, on one
 * epoll set with no thread per connection and no firewall rule. */
#ifndef HEARTH_PROXY_H
#define HEARTH_PROXY_H

#include "hearth/config.h"
#include "util.h"

struct proxy;

/* Binds every port of PORTS (host side) now, so a taken port fails the
 * start; NULL with *err set on failure. */
struct proxy *proxy_new(const char *guest_addr, const struct hearth_port *ports, size_t n, struct hearth_error **err);

/* The epoll fd to wait on (readable when there is work). */
int proxy_fd(const struct proxy *p);

/* Handles whatever is ready, without blocking; expires idle udp flows. */
void proxy_dispatch(struct proxy *p);

/* Milliseconds until the next expiry, or -1: a poll timeout. */
int proxy_timeout_ms(const struct proxy *p);

void proxy_free(struct proxy *p);

#endif
