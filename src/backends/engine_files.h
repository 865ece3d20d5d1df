/* What the engine backends (Docker, Apple's container) hand a guest as
 * shared host directories: config/ and secrets/ in its state directory. */
#ifndef HEARTH_ENGINE_FILES_H
#define HEARTH_ENGINE_FILES_H

#include "backend.h"

/* Refuses a volume whose host side is an image file: an engine shares
 * directories only. BACKEND names the backend in the error. */
int engine_volumes_check(const struct hearth_config *cfg, const char *backend, struct hearth_error **err) WUR;

/* Writes G's config files (0444 under a 0755 directory) and secrets
 * (0400 under a 0700 one), and WORKLOAD_JSON (may be NULL) as the
 * contract's .hearth/workload.json; what a previous start wrote goes
 * first. */
int engine_files_write(const struct guest *g, const char *workload_json, struct hearth_error **err) WUR;

#endif
