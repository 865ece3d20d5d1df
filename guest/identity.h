/* A restored guest's own identity: what the host sends in the agent's
 * "identity" command after a restore from a snapshot or template, so
 * no two clones share a name, address, clock or random state. */
#ifndef HEARTH_GUEST_IDENTITY_H
#define HEARTH_GUEST_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "params.h"

#define IDENTITY_ENTROPY_BYTES 64

struct guest_identity {
	struct guest_params net; /* name, ip/prefix, gw as the kernel command line has them */
	unsigned char mac[6];
	bool has_mac; /* false: keep the NIC's */
	int64_t time_sec;	 /* the host's wall clock when it sent this */
	long time_nsec;
	unsigned char entropy[IDENTITY_ENTROPY_BYTES];
	size_t entropy_len;
	bool remount; /* the config and secrets drives are new: mount them again */
};

/* Parses the JSON after "identity " (docs/agent-protocol.md). Returns 0,
 * or -1 with a one-line reason naming the field in ERR. */
int identity_parse(const char *json, struct guest_identity *id, char *err, size_t errlen);

/* Sets the clock, mixes the entropy in and reseeds the kernel's RNG, the
 * hostname, and eth0's MAC and address when they change (CURRENT: what
 * the guest has now). Returns 0, or -1 with ERR. */
int identity_apply(const struct guest_identity *id, const struct guest_params *current, char *err, size_t errlen);

#endif
