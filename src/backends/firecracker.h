/* What the Firecracker backend's start, stop and snapshot code share. */
#ifndef HEARTH_FIRECRACKER_H
#define HEARTH_FIRECRACKER_H

#include <jansson.h>

#include "backend.h"

/* $HEARTH_FIRECRACKER, else firecracker on PATH; NULL if none. */
char *fc_binary(void);
/* The same, or NULL with *err saying how to give one. */
char *fc_binary_or_fail(struct hearth_error **err);

/* The host directory that the VMM works in: the state directory, or
 * the jail's root when JAILER_EXEC (the firecracker binary) is jailed. */
char *fc_root_dir(const struct guest *g, const char *jailer_exec);

/* One API call on SOCK; a non-2xx answer is an error naming the request
 * and Firecracker's fault message. BODY is borrowed. */
int fc_api(const char *sock, const char *method, const char *path, json_t *body, struct hearth_error **err) WUR;

/* Starts the VMM under the monitor and waits for its API socket in ROOT;
 * *RET_SOCK is that socket's path. On failure nothing is left running. */
int fc_launch(struct guest *g, const char *fc, const char *root, char **ret_sock, struct hearth_error **err) WUR;

/* Kills the VMM of G and waits until its monitor has cleaned up. */
void fc_abort(struct guest *g);

int fc_guest_cid(const struct hearth_record *rec);

/* Checks what a start needs: the jailer, the kernel, the socket path's
 * length. *RET_ROOT is the VMM's working directory (fc_root_dir). */
int fc_check_paths(struct guest *g, const char *fc, char **ret_root, char **ret_kernel, struct hearth_error **err) WUR;

/* Records the guest channel, makes firecracker.log and the jail root. */
int fc_prepare(struct guest *g, const char *root, struct hearth_error **err) WUR;

/* Puts the guest's files where the VMM opens them: a private copy of
 * ROOTFS_SRC as rootfs.img, links to volumes, and, when jailed, the
 * drives, kernel and log inside the jail. */
int fc_stage_files(struct guest *g, const char *root, const char *kernel, const char *rootfs_src,
		   struct hearth_error **err) WUR;

/* PUT /logger: firecracker.log in the VMM's working directory. */
int fc_put_logger(const char *sock, struct hearth_error **err) WUR;

/* The working directory and the API socket of a started guest's VMM. */
char *fc_vmm_root(const struct guest *g);
char *fc_api_sock(const struct guest *g);

/* PATCH /vm to STATE ("Paused", "Resumed"). */
int fc_vm_state(const char *sock, const char *state, struct hearth_error **err) WUR;

int fc_snapshot_create(struct guest *g, const char *dir, struct hearth_error **err);
int fc_snapshot_restore(struct guest *g, const char *dir, struct hearth_error **err);

#endif
