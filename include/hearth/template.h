/* Warm starts: a template is a snapshot of a guest booted to ready with
 * its workload held, kept in the state root; each guest started from it
 * maps its memory and disk copy-on-write and takes an identity of its
 * own (name, address, clock, entropy, config and secrets) before its
 * workload starts. A clone is a running guest's snapshot run as a new
 * guest, its processes and memory kept. */
#ifndef HEARTH_TEMPLATE_H
#define HEARTH_TEMPLATE_H

#include <stddef.h>
#include <stdint.h>

#include "hearth/config.h"
#include "hearth/context.h"
#include "hearth/error.h"
#include "hearth/hearth.h"

struct hearth_template {
	char *name;
	char *backend;
	unsigned memory_mib;
	int64_t created; /* Unix seconds */
	uint64_t bytes;	 /* what its files take on disk */
	size_t users;	 /* guests running from it now */
};

/* Makes template NAME: from guest FROM (running; snapshotted, it runs on),
 * or, with FROM NULL, by booting CFG (its name ignored) under OPTS with
 * the workload held, snapshotting it once ready, and removing it. */
HEARTH_PUBLIC int hearth_template_create(struct hearth_ctx *ctx, const char *name, const char *from,
					 struct hearth_config *cfg, const struct hearth_run_options *opts,
					 struct hearth_error **err) HEARTH_WUR;

/* Starts a new guest from template NAME. From CFG come only the new
 * guest's own name (or NULL for a new one), ports, config and secret
 * files; the rest is the template's. With opts->wait, returns once the
 * guest says ready. */
HEARTH_PUBLIC int hearth_template_run(struct hearth_ctx *ctx, const char *name, struct hearth_config *cfg,
				      const struct hearth_run_options *opts, char **ret_name,
				      struct hearth_error **err) HEARTH_WUR;

/* Clones running guest FROM: paused, snapshotted, resumed, and the
 * snapshot run as a new guest with an identity of its own; its
 * processes and memory come along. From CFG come its name (or NULL for
 * a new one) and its ports (the source's are taken). The snapshot lives
 * as long as the clone. */
HEARTH_PUBLIC int hearth_guest_clone(struct hearth_ctx *ctx, const char *from, struct hearth_config *cfg,
				     const struct hearth_run_options *opts, char **ret_name,
				     struct hearth_error **err) HEARTH_WUR;

HEARTH_PUBLIC int hearth_template_list(struct hearth_ctx *ctx, struct hearth_template **ret, size_t *ret_n,
				       struct hearth_error **err) HEARTH_WUR;
HEARTH_PUBLIC void hearth_templates_free(struct hearth_template *t, size_t n);

/* Removes template NAME; refuses while a guest runs from it. */
HEARTH_PUBLIC int hearth_template_remove(struct hearth_ctx *ctx, const char *name, struct hearth_error **err) HEARTH_WUR;

#endif
