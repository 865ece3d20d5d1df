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

/* QEMU's command line for G (its config and record), booting KERNEL
 * with ACCEL: the qemu backend's whole translation of a start
 * configuration, a pure function for tests. */
void qemu_build_argv(const struct guest *g, const char *qemu, const char *accel, const char *kernel, struct strv *a);

#endif
