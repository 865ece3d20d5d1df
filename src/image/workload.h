/* An image's run config (its Entrypoint, Cmd, Env, WorkingDir, User,
 * StopSignal) and a start configuration's args made into the guest
 * contract's workload.json (guest/workload.h reads it). */
#ifndef HEARTH_IMAGE_WORKLOAD_H
#define HEARTH_IMAGE_WORKLOAD_H

#include <jansson.h>

#include "hearth/config.h"
#include "lib/util.h"

/* RUN_CONFIG is the "config" object of an OCI image configuration. */
char *image_workload(json_t *run_config, const struct hearth_config *cfg, struct hearth_error **err);

#endif
