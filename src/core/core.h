/* The core: the guest lifecycle every backend shares, above the backends
 * and below the CLI. These are its building blocks, shared by its files. */
#ifndef HEARTH_GUEST_INTERNAL_H
#define HEARTH_GUEST_INTERNAL_H

#include "backends/backend.h"
#include "lib/bridge.h"

/* How to bring a new guest up, when not by ops->start: restoring a
 * snapshot keeps the snapshot's bridge slot (the guest's address lives
 * in its memory). */
struct guest_start {
	int want_slot;	       /* -1: any */
	const char *snapshot;  /* restore from this snapshot directory, or NULL: boot */
	json_t *facts;	       /* the snapshot's backend facts (borrowed) */
	bool snapshot_ready;   /* the snapshot's guest had said ready */
	bool own_drives;       /* a restore builds the guest's drives from its config */
	bool hold;	       /* a boot holds the workload (a template's) */
	bool workload_ran;     /* the snapshot's workload had started (not held) */
	const char *origin;    /* recorded: the snapshot the guest maps, or NULL */
};

/* A snapshot directory's manifest, checked: taken by this hearth, with a
 * backend that restores; CFG its guest's configuration (no host files
 * named, rootfs_path DIR/rootfs.img). */
struct snapshot {
	json_t *manifest;
	const struct hearth_backend_ops *ops;
	struct hearth_config *cfg;
};
int snapshot_load(const char *dir, struct snapshot *ret, struct hearth_error **err) WUR;
void snapshot_release(struct snapshot *s);

/* A new guest from S (in DIR) with S->cfg as its configuration, HOW
 * as the caller set it (slot, drives, origin); backend and network are
 * the snapshot's. */
int snapshot_run(struct hearth_ctx *ctx, const char *dir, struct snapshot *s, const struct hearth_run_options *opts,
		 struct guest_start *how, char **ret_name, struct hearth_error **err) WUR;

/* Removes the private snapshot a clone maps (ORIGIN, its record's), once
 * the clone is gone; any other origin is left alone. */
void template_forget_clone(struct hearth_ctx *ctx, const char *origin);

/* Removes snapshot directory DIR and what hearth put in it. */
void snapshot_dir_remove(const char *dir);

/* Sends a restored guest its own identity (name, address, clock,
 * entropy) through the agent, and waits for hearth-init's answer.
 * REMOUNT: its config and secrets drives are new (its own files). */
int guest_identity_send(struct guest *g, bool remount, struct hearth_error **err) WUR;

/* hearth_guest_run with HOW (NULL: the backend's start). */
int guest_run_internal(struct hearth_ctx *ctx, struct hearth_config *cfg, const struct hearth_run_options *opts,
		       const struct guest_start *how, char **ret_name, struct hearth_error **err) WUR;

/* An image guest's configuration made runnable: the image converted
 * unless the store has it, IMAGE_DIGEST checked or set, ROOTFS_PATH the
 * store's. */
int image_prepare(struct hearth_ctx *ctx, struct hearth_config *cfg, struct hearth_error **err) WUR;

/* The contract's workload.json for an image guest's CFG. */
char *image_workload_json(struct hearth_ctx *ctx, const struct hearth_config *cfg, struct hearth_error **err);

/* The start is handed over: from here the monitor (or the daemon)
 * answers for the guest, whatever becomes of this process (a record_fn). */
void guest_clear_creator(struct hearth_record *rec, void *arg);

/* Records a start that failed after its VMM ran, and says in ERR where
 * to look: every place named exists until hearth rm. */
void guest_keep_failed(struct guest *g, struct hearth_error **err);

/* NAME's record, reconciled; every guest's, sorted by name (skipping
 * guests being made or removed right now). With RET_CFG (RET_CFGS, an
 * array as long) not NULL, the configs read on the way too (NULL for a
 * broken guest). */
int guest_get(struct hearth_ctx *ctx, const char *name, struct hearth_record **ret, struct hearth_config **ret_cfg,
	      struct hearth_error **err) WUR;
int guest_list(struct hearth_ctx *ctx, struct hearth_record ***ret, struct hearth_config ***ret_cfgs, size_t *ret_n,
	       struct hearth_error **err) WUR;

/* The backend CFG starts on when WANT (NULL or "auto": hearth picks) is
 * asked for: a build with a runner runs it. */
int backend_for(struct hearth_ctx *ctx, const struct hearth_config *cfg, const char *want, const char **ret,
		struct hearth_error **err) WUR;

/* NAME's guest with config and reconciled record, and its backend. */
int guest_open(struct hearth_ctx *ctx, const char *name, struct guest *g, const struct hearth_backend_ops **ret_ops,
	       struct hearth_error **err) WUR;
void guest_release(struct guest *g);

/* starting, running or paused: a guest whose processes should be up. */
bool guest_status_active(enum hearth_status s);

/* Opens NAME's state directory. */
int guest_dir_open(struct hearth_ctx *ctx, const char *name, struct hearth_error **err) WUR;

/* The start configuration in VMFD's config.json. */
int guest_config_read(int vmfd, struct hearth_config **ret, struct hearth_error **err) WUR;

/* NAME's record (in VMFD), reconciled with the processes that run: a
 * gone monitor or a start cut short is repaired and reads as failed, a
 * record or config that cannot be read reads as broken. Fails only for a
 * guest whose directory is being made right now. RET_CFG, when not NULL,
 * gets the config read on the way (NULL for a broken guest). */
int guest_record(struct hearth_ctx *ctx, int vmfd, const char *name, struct hearth_record **ret,
		 struct hearth_config **ret_cfg, struct hearth_error **err) WUR;

/* Under the state lock: a name when CFG has none, the host ports, the
 * bridge slot (PLAN, for bridged guests; WANT_SLOT or any), the guest's
 * directory, config.json and first record. Returns the directory's fd. */
int guest_create(struct hearth_ctx *ctx, int rootfd, struct hearth_config *cfg, const char *backend,
		 const char *network, int want_slot, struct net_plan *plan, struct hearth_error **err) WUR;

/* hearth_guest_exec, on a guest still starting too with STARTING_TOO
 * (an exec probe runs before the guest counts as running). */
int guest_exec(struct hearth_ctx *ctx, const char *name, const struct hearth_exec *ex, bool starting_too,
	       int *ret_status, struct hearth_error **err) WUR;

/* Runs REC's readiness probe once when it is the core's (tcp, http;
 * exec with ALLOW_EXEC, once hearth-init is up) and REC still starts;
 * when it passes, REC (and its file in VMFD) says running and 1 is
 * returned. Else 0, with *RET_WHY (malloc'd) saying why when it ran. */
int guest_probe(struct hearth_ctx *ctx, int vmfd, struct hearth_record *rec, bool allow_exec, char **ret_why);

/* A bridge slot (the guest's address) on BC: WANT (a snapshot's slot),
 * unless one of the N guests HOLDERS[i] holds it as SLOTS[i]; with WANT
 * < 0 the lowest free one. */
int slot_allocate(const struct bridge_cfg *bc, const int *slots, const char *const *holders, size_t n, int want,
		  struct hearth_error **err) WUR;

/* The network mode for a guest of OPS when the caller asks for WANT
 * (NULL or "auto": the backend's default): "user", "bridge", "none", or
 * NULL for a backend that manages its own. Fails, naming what the backend
 * offers, for a mode it does not. */
int network_choose(const struct hearth_backend_ops *ops, const char *want, const char **ret,
		   struct hearth_error **err) WUR;

#endif
