/* The QEMU backend's pieces: KVM or TCG (qemu_accel.c), its command
 * line (qemu.c). */
#ifndef HEARTH_QEMU_ACCEL_H
#define HEARTH_QEMU_ACCEL_H

#include "backend.h"

#define QEMU_MACHINE "microvm,x-option-roms=off,rtc=on,acpi=off"

/* "kvm" or "tcg" for QEMU binary QEMU, with *RET_WHY (malloc'd) saying
 * why. The context's accel setting decides outright; verdicts are kept
 * in its runtime directory. Without a verdict yet:
 * WAIT probes now (at most a few seconds); else a background probe starts
 * and its verdict is used if it comes within half a second, "tcg" if not
 * (the probe then records it for the next call). */
const char *qemu_accel(const struct hearth_ctx *ctx, const char *qemu, bool wait, char **ret_why);

/* The cache's pieces, for tests: the key of a verdict, and the verdict
 * for KEY in DIR if a trustworthy file holds it, else NULL. */
char *qemu_accel_key(const char *qemu, const char *kernel);
char *qemu_accel_cached(const char *dir, const char *key);

/* How one QEMU is started. */
struct qemu_plan {
	const char *qemu, *accel, *kernel;
	bool overlay;	     /* the root disk is G's own root.qcow2 over the image, else
			      * QEMU's snapshot=on (no qemu-img) or a persistent disk.ext4 */
	const char *restore; /* a snapshot directory whose memory and device state the
			      * VM starts from, or NULL for a boot */
};

/* QEMU's command line for G (its config and record) as PLAN says: the
 * qemu backend's whole translation of a start configuration, a pure
 * function for tests. */
void qemu_build_argv(const struct guest *g, const struct qemu_plan *plan, struct strv *a);

/* Where a snapshot keeps what (qemu_snapshot.c). */
#define QEMU_SNAP_MEMORY "memory"
#define QEMU_SNAP_VMSTATE "vmstate"
#define QEMU_SNAP_OVERLAY "rootfs.qcow2" /* the root disk's writes, over the image */
#define QEMU_SNAP_DISK "rootfs.img"	 /* a persistent guest's whole disk */
#define QEMU_OVERLAY "root.qcow2"	 /* in a guest's state directory */

/* Starts G's QEMU under its monitor, from RESTORE's state or booting. */
int qemu_launch(struct guest *g, const char *restore, struct hearth_error **err) WUR;

int qemu_snapshot_create(struct guest *g, const char *dir, struct hearth_error **err);
int qemu_snapshot_restore(struct guest *g, const char *dir, struct hearth_error **err);

#endif
