/* Bridge networking for VM guests: one bridge (hearth0 by default) with
 * a /24, one TAP per guest on it, the guest's address, gateway and MAC
 * derived from the slot it was given under the state lock. */
#ifndef HEARTH_BRIDGE_H
#define HEARTH_BRIDGE_H

#include <net/if.h>
#include <netinet/in.h>

#include "util.h"

#define BRIDGE_DEFAULT_NAME "hearth0"
#define BRIDGE_DEFAULT_CIDR "10.89.0.0/24"

struct bridge_cfg {
	char name[IFNAMSIZ];
	struct in_addr net; /* network address, host order bits cleared */
	unsigned prefix;
	bool nat;	   /* masquerade the subnet out of the default route */
	unsigned root_tag; /* state_root_tag of the state root its TAPs belong to */
};

/* Everything a backend needs to attach one guest. */
struct net_plan {
	struct bridge_cfg br;
	int slot;
	char tap[IFNAMSIZ];
	char mac[18];	  /* 06:00:AA:BB:CC:DD, the guest address's bytes */
	char addr[16];	  /* guest address */
	char cidr[20];	  /* guest address/prefix, as hearth.ip= wants */
	char gateway[16]; /* the bridge's address */
};

struct hearth_ctx;
/* The context's bridge, subnet and NAT choice, for its state root. */
int bridge_cfg_from_ctx(const struct hearth_ctx *ctx, struct bridge_cfg *cfg, struct hearth_error **err) WUR;
/* NAME and CIDR checked, for root tag 0; errors name the setting. */
int bridge_cfg_parse(const char *name, const char *cidr, bool nat, struct bridge_cfg *cfg,
		     struct hearth_error **err) WUR;

/* How many guests the subnet holds. */
unsigned bridge_slots(const struct bridge_cfg *cfg);

/* The plan of SLOT; TAP names carry a hash of the state root, so two
 * roots on one host never mistake each other's TAPs for stale ones. */
void net_plan_for_slot(const struct bridge_cfg *cfg, int slot, struct net_plan *plan);

/* Creates the bridge (with its gateway address, up, NAT when asked)
 * unless it is there, then a fresh TAP on it for PLAN that OWNER may
 * open. */
int net_plan_attach(const struct net_plan *plan, uid_t owner, struct hearth_error **err) WUR;

/* Removes PLAN's TAP; quiet when it is gone already. */
void net_tap_remove(const char *tap);

/* The TAP name of SLOT in the state root tagged ROOT_TAG. */
void net_tap_name(unsigned root_tag, int slot, char name[IFNAMSIZ]);

/* Removes RECORDED (a name read from a record) only when it is the name
 * hearth gives SLOT's TAP: a record is a file, and a file's word is not
 * enough to delete a host's interface. */
void net_tap_remove_slot(unsigned root_tag, const char *recorded, int slot);

/* Whether the bridge's link exists. */
bool bridge_exists(const struct bridge_cfg *cfg);

/* Removes the bridge and its NAT rule. */
int bridge_remove(const struct bridge_cfg *cfg, struct hearth_error **err) WUR;

#endif
