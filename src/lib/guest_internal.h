/* The lifecycle's building blocks that snapshots reuse. */
#ifndef HEARTH_GUEST_INTERNAL_H
#define HEARTH_GUEST_INTERNAL_H

#include "backends/backend.h"

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

#endif
