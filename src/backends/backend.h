/* The backend interface: one ops table per backend, listed in
 * registry.c. A backend translates the start configuration into its own
 * plan and touches nothing but that translation. */
#ifndef HEARTH_BACKEND_H
#define HEARTH_BACKEND_H

#include "hearth/hearth.h"
#include "lib/bridge.h"
#include "lib/ctx.h"
#include "lib/record.h"
#include "lib/util.h"

/* One guest as the core hands it to a backend. */
struct guest {
	struct hearth_ctx *ctx; /* the caller's, for the whole call */
	char *name;
	char *dir; /* absolute path of its state directory */
	int dirfd;
	struct hearth_config *cfg;	       /* validated, file contents loaded */
	struct hearth_record *rec;	       /* the current record */
	const struct hearth_run_options *opts; /* at start only */
	const struct net_plan *net;	       /* at start of a bridged guest, else NULL */
	const char *workload_json;	       /* at start of an image's guest: the contract's
						* workload.json, else NULL */
	bool restart;			       /* at start: a stopped guest's (hearth start) */
	bool launched;			       /* at start: the VMM was started, so a failure from
				    * here on is kept as a failed guest to look into */
	bool hold;			       /* at start: a template's boot (hearth.hold=1) */
	bool own_drives;		       /* at restore: config and secrets from cfg (a clone's
					* own), not the snapshot's copies */
	json_t *snapshot_facts;		       /* what the backend recorded in a snapshot (its
					* create sets it; restore reads it); the guest's */
};

enum backend_networks {
	NET_USER = 1 << 0,   /* the VMM's own user-mode stack (QEMU slirp) */
	NET_BRIDGE = 1 << 1, /* a TAP on hearth's bridge */
	NET_NONE = 1 << 2,
	NET_OWN = 1 << 3, /* whatever the backend's own daemon or runner does */
};

struct hearth_backend_ops {
	const char *name;
	unsigned caps;		     /* enum hearth_caps */
	bool needs_runner;	     /* runs a build's runner: chosen by runner_dir, never by auto */
	bool explicit_only;	     /* only when asked for by name, never by auto */
	unsigned networks;	     /* enum backend_networks it offers */
	const char *default_network; /* "user", "bridge", "none" */

	/* Fills INFO->available and reason, and with FULL the version too
	 * (which may cost a process spawn). Must be cheap after the first
	 * call on a machine: cache what costs. */
	void (*probe)(struct hearth_ctx *ctx, struct hearth_backend_info *info, bool full);

	/* Builds what the guest needs and starts it under its monitor. On
	 * failure it leaves no process behind; the core removes the dir. */
	int (*start)(struct guest *g, struct hearth_error **err);

	/* Asks the guest to power off cleanly; returns without waiting. */
	int (*request_stop)(struct guest *g, struct hearth_error **err);

	/* Makes the hypervisor exit now. */
	int (*force_stop)(struct guest *g, struct hearth_error **err);

	/* NULL where the backend cannot (the core says so). */
	int (*pause)(struct guest *g, struct hearth_error **err);
	int (*resume)(struct guest *g, struct hearth_error **err);

	/* Optional, for backends whose own daemon supervises the guest
	 * (Docker). NULL: the core's monitor-based default. */
	/* Overwrites REC's status, reason, exit code and address with what
	 * the backend knows now (G has no cfg here). */
	int (*refresh)(struct guest *g, struct hearth_record *rec, struct hearth_error **err);
	/* The whole stop: ask, wait TIMEOUT_S, force. */
	int (*stop)(struct guest *g, int timeout_s, struct hearth_error **err);
	/* Removes what lives outside the state directory. */
	int (*remove)(struct guest *g, struct hearth_error **err);
	/* Full snapshots (NULL where the backend has none): the VM state,
	 * memory and disks of a running guest into DIR; a new guest G from
	 * DIR, left running. */
	int (*snapshot_create)(struct guest *g, const char *dir, struct hearth_error **err);
	int (*snapshot_restore)(struct guest *g, const char *dir, struct hearth_error **err);
	/* A stream to the guest agent's sessions (docs/agent-protocol.md),
	 * connected, or -1; *RET_LOCK an fd to close with it, or -1. NULL:
	 * the backend's guests have no agent. */
	int (*session_open)(struct guest *g, int *ret_lock, struct hearth_error **err);
	/* The agent's request socket (ping, poweroff), connected, or -1.
	 * NULL: the record's guest_channel is a path to connect to. */
	int (*agent_open)(struct guest *g, struct hearth_error **err);
	/* For an OCI image guest: the image made ready the backend's own way,
	 * CFG's image_digest set. NULL: the core converts it to an ext4 root
	 * filesystem in the image store (rootfs_path). */
	int (*image_prepare)(struct hearth_ctx *ctx, struct hearth_config *cfg, struct hearth_error **err);
	/* Files in the state directory that `logs --hypervisor` prints, in
	 * order; NULL: hypervisor.log. */
	const char *const *hypervisor_logs;
	/* Writes the console log (last LINES, 0: all, LOGS_FROM_NOW: none of
	 * the past) to FD; FOLLOW keeps on until the guest ends. */
	int (*logs)(struct guest *g, uint64_t lines, bool follow, int fd, struct hearth_error **err);
};

#define LOGS_FROM_NOW UINT64_MAX

extern const struct hearth_backend_ops qemu_backend;
extern const struct hearth_backend_ops microvm_nix_backend;
extern const struct hearth_backend_ops docker_backend;
extern const struct hearth_backend_ops firecracker_backend;
extern const struct hearth_backend_ops apple_container_backend;

/* "kvm" or "tcg": what QEMU on this host really runs guests with (probed
 * once, cached). *RET_WHY (malloc'd) says why. */
const char *qemu_accel_for_host(struct hearth_ctx *ctx, char **ret_why);

/* The backend named NAME, or NULL; the I-th in order of preference, or
 * NULL past the last. */
const struct hearth_backend_ops *backend_find(const char *name);
const struct hearth_backend_ops *backend_at(size_t i);

#endif
