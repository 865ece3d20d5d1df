/* The lifecycle's building blocks, shared by guest*.c and snapshot.c. */
#ifndef HEARTH_GUEST_INTERNAL_H
#define HEARTH_GUEST_INTERNAL_H

#include "backends/backend.h"
#include "bridge.h"

/* How to bring a new guest up, when not by ops->start: restoring a
 * snapshot keeps the snapshot's bridge slot (the guest's address lives
 * in its memory). */
struct guest_start {
	int want_slot; /* -1: any */
	int (*start)(struct guest *g, const char *arg, struct hearth_error **err);
	const char *arg;
};

/* hearth_guest_run with HOW (NULL: the backend's start). */
int guest_run_internal(struct hearth_config *cfg, const struct hearth_run_options *opts,
		       const struct guest_start *how, char **ret_name, struct hearth_error **err) WUR;

/* NAME's guest with config and reconciled record, and its backend. */
int guest_open(const char *name, struct guest *g, const struct hearth_backend_ops **ret_ops,
	       struct hearth_error **err) WUR;
void guest_release(struct guest *g);

/* starting, running or paused: a guest whose processes should be up. */
bool guest_status_active(enum hearth_status s);

/* Opens NAME's state directory. */
int guest_dir_open(const char *name, struct hearth_error **err) WUR;

/* The start configuration in VMFD's config.json. */
int guest_config_read(int vmfd, struct hearth_config **ret, struct hearth_error **err) WUR;

/* NAME's record (in VMFD), reconciled with the processes that run: a
 * gone monitor or a start cut short is repaired and reads as failed, a
 * record or config that cannot be read reads as broken. Fails only for a
 * guest whose directory is being made right now. */
int guest_record(int vmfd, const char *name, struct hearth_record **ret, struct hearth_error **err) WUR;

/* Under the state lock: a name when CFG has none, the host ports, the
 * bridge slot (PLAN, for bridged guests; WANT_SLOT or any), the guest's
 * directory, config.json and first record. Returns the directory's fd. */
int guest_create(int rootfd, struct hearth_config *cfg, const char *backend, const char *network, int want_slot,
		 struct net_plan *plan, struct hearth_error **err) WUR;

#endif
