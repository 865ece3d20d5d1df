/* What the Apple container backend's container and image code share. */
#ifndef HEARTH_APPLE_CONTAINER_H
#define HEARTH_APPLE_CONTAINER_H

#include "backend.h"

/* Deadlines: the probe's calls (each run probes); one call of the tool;
 * a run (image checks, VM boot). */
#define AC_PROBE_MS 5000
#define AC_CALL_MS 30000
#define AC_START_MS 120000

/* Runs the `container` ARGV with stdin closed: 0 with its stdout in
 * *RET_OUT (may be NULL); its exit status (> 0) with *ERR naming the
 * command and the tool's own complaint (NOT_FOUND when it said "not
 * found"); -1 when it could not be run. */
int ac_call(char *const argv[], int timeout_ms, char **ret_out, struct hearth_error **err);

/* The `container run --detach` of G running IMAGE: every field of its
 * configuration mapped to the flags of the CLI reference. */
void ac_run_argv(const struct guest *g, const char *image, struct strv *a);

/* Where hearth-init is in CFG's guest. */
const char *ac_init_path(const struct hearth_config *cfg);

/* G's rootfs as an image of the tool's, "repo:tag", loaded once per
 * content (apple_image.c). With *TRUSTED true, an image this state root
 * loaded before is taken on trust (*TRUSTED stays true: the tool was not
 * asked); else the tool is asked, and it is loaded when missing. */
char *ac_ensure_image(struct guest *g, bool *trusted, struct hearth_error **err);

/* Forgets that REF was loaded (the tool no longer had it). */
void ac_image_forget(struct hearth_ctx *ctx, const char *ref);

#endif
