/* KVM or TCG for the QEMU backend (see qemu_accel.c). */
#ifndef HEARTH_QEMU_ACCEL_H
#define HEARTH_QEMU_ACCEL_H

#include "lib/util.h"

#define QEMU_MACHINE "microvm,x-option-roms=off,rtc=on,acpi=off"

/* Where per-boot facts of this machine live: $HEARTH_RUNTIME_DIR, else
 * /run/hearth for root, $XDG_RUNTIME_DIR/hearth for others, else the
 * state root's cache/. */
char *hearth_runtime_dir(void);

/* "kvm" or "tcg" for QEMU binary QEMU, with *RET_WHY (malloc'd) saying
 * why. HEARTH_ACCEL=kvm|tcg decides outright. Without a verdict yet:
 * WAIT probes now (at most a few seconds); else a background probe starts
 * and its verdict is used if it comes within half a second, "tcg" if not
 * (the probe then records it for the next call). */
const char *qemu_accel(const char *qemu, bool wait, char **ret_why);

/* The cache's pieces, for tests: the key of a verdict, and the verdict
 * for KEY in DIR if a trustworthy file holds it, else NULL. */
char *qemu_accel_key(const char *qemu, const char *kernel);
char *qemu_accel_cached(const char *dir, const char *key);

#endif
