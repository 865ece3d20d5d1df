/* A guest as the core hands it to a backend, made without a state root:
 * for the tests of what backends make of it. */
#ifndef HEARTH_TEST_GUEST_FIXTURE_H
#define HEARTH_TEST_GUEST_FIXTURE_H

#include <stdlib.h>

#include "backends/backend.h"

struct fixture {
	struct hearth_ctx *ctx;
	struct hearth_config *cfg;
	struct hearth_record rec;
	struct net_plan plan;
	struct guest g;
};

/* NAME with its state directory DIR and a default configuration whose
 * rootfs is ROOTFS; the record says nothing yet but the name. */
static inline struct fixture *fixture_new(const char *name, const char *dir, const char *rootfs)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	f->ctx = hearth_ctx_new();
	f->cfg = hearth_config_new();
	f->cfg->name = xstrdup(name);
	f->cfg->rootfs_path = xstrdup(rootfs);
	f->rec = (struct hearth_record){ .name = (char *)name, .backend = "qemu", .net_slot = -1, .exit_code = -1 };
	f->g = (struct guest){ .ctx = f->ctx, .name = (char *)name, .dir = (char *)dir, .dirfd = -1, .cfg = f->cfg,
			       .rec = &f->rec };
	return f;
}

/* Puts the guest on the context's bridge at SLOT. */
static inline void fixture_bridge(struct fixture *f, int slot)
{
	struct bridge_cfg bc;
	if (bridge_cfg_from_ctx(f->ctx, &bc, NULL) < 0)
		abort();
	net_plan_for_slot(&bc, slot, &f->plan);
	f->g.net = &f->plan;
	f->rec.network = "bridge";
	f->rec.net_slot = slot;
	f->rec.guest_ip = f->plan.cidr;
	f->rec.gateway = f->plan.gateway;
}

static inline int fixture_teardown(void **state)
{
	struct fixture *f = *state;
	hearth_config_free(f->cfg);
	hearth_ctx_free(f->ctx);
	free(f);
	return 0;
}

#endif
