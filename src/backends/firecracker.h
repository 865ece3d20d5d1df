/* What the Firecracker backend's start, jail, stop and snapshot code
 * share. */
#ifndef HEARTH_FIRECRACKER_H
#define HEARTH_FIRECRACKER_H

#include <jansson.h>

#include "backend.h"
#include "lib/cgroup.h"

/* $HEARTH_FIRECRACKER, else firecracker on PATH; NULL if none. */
char *fc_binary(const struct hearth_ctx *ctx);
/* The same, or NULL with *err saying how to give one. */
char *fc_binary_or_fail(const struct hearth_ctx *ctx, struct hearth_error **err);

/* A Firecracker release, as `firecracker --version` prints it. The API
 * grows between releases and rejects unknown fields, so every request
 * body is made for the version that will read it. */
struct fc_version {
	unsigned major, minor, patch;
};

/* Parses "Firecracker v1.14.2" (the first line of --version). */
int fc_version_parse(const char *text, struct fc_version *v) WUR;
/* Runs FC --version once. */
int fc_version_of(const char *fc, struct fc_version *v, struct hearth_error **err) WUR;
bool fc_version_at_least(const struct fc_version *v, unsigned major, unsigned minor);

/* What a release's API has that older ones lack. */
#define FC_NETWORK_OVERRIDES_SINCE 1, 12 /* PUT /snapshot/load network_overrides */

/* Drive and interface IDs: Firecracker accepts [A-Za-z0-9_] only. The
 * guest finds its drives by ext4 label (config, secrets) or by this ID,
 * which Firecracker hands it as the virtio-blk serial (volumes). */
#define FC_DRIVE_ROOT "rootfs"
#define FC_DRIVE_CONFIG "hearth_config"
#define FC_DRIVE_SECRETS "hearth_secrets"
#define FC_IFACE "eth0"
bool fc_id_valid(const char *id);

/* The request bodies of the pre-boot configuration, for version V.
 * Each returns a new reference. */
json_t *fc_body_logger(const struct fc_version *v);
json_t *fc_body_drive(const char *id, const char *path, bool root, bool read_only);
json_t *fc_body_vsock(const struct fc_version *v, int cid);

/* The requests that configure and boot G with KERNEL (a path as the VMM
 * sees it) on Firecracker V, in the order they are sent: logger, boot
 * source, machine, drives, network, vsock, InstanceStart. A plain
 * function of G: the firecracker backend's whole translation of a start
 * configuration. */
struct fc_request {
	char *path;
	json_t *body;
};
struct fc_plan {
	struct fc_request *req;
	size_t n;
};
void fc_plan_build(const struct guest *g, const struct fc_version *v, const char *kernel, struct fc_plan *plan);
void fc_plan_release(struct fc_plan *plan);

/* One API call on SOCK; a non-2xx answer is an error naming the request
 * and Firecracker's fault message. BODY is borrowed. */
int fc_api(const char *sock, const char *method, const char *path, json_t *body, struct hearth_error **err) WUR;

/* PUT /logger: firecracker.log in the VMM's working directory. */
int fc_put_logger(const char *sock, const struct fc_version *v, struct hearth_error **err) WUR;

/* PATCH /vm to STATE ("Paused", "Resumed"). */
int fc_vm_state(const char *sock, const char *state, struct hearth_error **err) WUR;

int fc_guest_cid(const struct hearth_record *rec);

/* The jailer, when the guest runs under one. */
struct fc_jail {
	const char *jailer;    /* the jailer binary */
	const char *exec_file; /* the firecracker binary it execs */
	const char *id;	       /* the jail's ID: the guest's name */
	const char *base_dir;  /* --chroot-base-dir */
	const char *parent_cgroup;
	unsigned uid, gid;
	unsigned cpus;
	uint64_t memory_bytes; /* the cgroup's limit: guest memory plus the VMM's own */
	enum cgroup_version cgroup;
};

/* The jailer's command line for J (firecracker's own arguments after --). */
void fc_jailer_argv(const struct fc_jail *j, struct strv *out);

/* The host directory that the VMM works in: the state directory, or
 * the jail's root when JAILER_EXEC (the firecracker binary) is jailed. */
char *fc_root_dir(const struct guest *g, const char *jailer_exec);

/* The cgroup (relative to each hierarchy's mount) a jailed guest of this
 * state root runs in: "hearth-<root tag>/<name>". */
char *fc_jail_cgroup(const struct hearth_ctx *ctx, const char *name);

/* Checks what a start needs: the jailer, the kernel, the socket path's
 * length. *RET_ROOT is the VMM's working directory (fc_root_dir). */
int fc_check_paths(struct guest *g, const char *fc, char **ret_root, char **ret_kernel, struct hearth_error **err) WUR;

/* Records the guest channel, makes firecracker.log and the jail root. */
int fc_prepare(struct guest *g, const char *root, struct hearth_error **err) WUR;

/* Puts the guest's files where the VMM opens them: a private copy of
 * ROOTFS_SRC as rootfs.img, the volumes, and, when jailed, the drives,
 * kernel and log inside the jail, owned by the jail's user. */
int fc_stage_files(struct guest *g, const char *root, const char *kernel, const char *rootfs_src,
		   struct hearth_error **err) WUR;

/* Starts the VMM under the monitor and waits for its API socket in ROOT;
 * *RET_SOCK is that socket's path. On failure nothing is left running. */
int fc_launch(struct guest *g, const char *fc, const char *root, char **ret_sock, struct hearth_error **err) WUR;

/* Kills the VMM of G and waits until its monitor has cleaned up. */
void fc_abort(struct guest *g);

/* Removes a jailed guest's cgroups and jail, should its monitor have
 * been killed before it could. */
int fc_remove(struct guest *g, struct hearth_error **err);

/* The working directory and the API socket of a started guest's VMM. */
char *fc_vmm_root(const struct guest *g);
char *fc_api_sock(const struct guest *g);

int fc_snapshot_create(struct guest *g, const char *dir, struct hearth_error **err);
int fc_snapshot_restore(struct guest *g, const char *dir, struct hearth_error **err);

#endif
