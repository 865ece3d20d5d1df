/* What every VM backend gives a guest besides its rootfs: the config
 * drive (with .hearth/volumes.json), the secrets drive and one image per
 * named volume, in the guest contract's order. */
#ifndef HEARTH_VM_DRIVES_H
#define HEARTH_VM_DRIVES_H

#include "backend.h"
#include "lib/monitor.h"

/* Builds config.img and secrets.img in the state directory and creates
 * named volumes under volumes/. */
int vm_drives_build(struct guest *g, struct hearth_error **err) WUR;

/* Volume I's drive ID, which the guest sees as the disk's virtio serial
 * and finds in .hearth/volumes.json: "hearth_vol0". Letters, digits and
 * '_' only, as Firecracker demands of IDs. */

/* The host image of volume V: its path, or volumes/NAME.img. */
char *vm_volume_path(const struct guest *g, const struct hearth_volume *v);

/* Copies SRC to DST (mode 0600): a reflink where the filesystem can,
 * else an in-kernel copy; holes stay holes. */
int vm_copy_image(const struct hearth_ctx *ctx, const char *src, const char *dst, struct hearth_error **err) WUR;

/* The guest contract's volumes.json for CFG: serial, device, mount
 * path and read-only flag of each volume, as hearth-init reads them. */
char *vm_volumes_json(const struct hearth_config *cfg);

/* A persistent guest's own disk, NAME in its directory: a copy of its
 * rootfs made at its first start (reflinked where the filesystem can,
 * else sparse), kept until the guest is removed. 0 for an ephemeral
 * guest, and when the disk is there already. */
#define VM_PERSISTENT_DISK "disk.ext4"
int vm_persistent_disk(struct guest *g, const char *name, struct hearth_error **err) WUR;

/* Copies every named volume image of FROM/volumes into TO/volumes. */
int vm_copy_volumes(const struct hearth_ctx *ctx, const char *from, const char *to, struct hearth_error **err) WUR;

#endif
