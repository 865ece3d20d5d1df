/* What the Docker backend's container and image code share. */
#ifndef HEARTH_DOCKER_H
#define HEARTH_DOCKER_H

#include <jansson.h>

#include "backend.h"
#include "lib/http.h"

/* Sends REQ (method, body or upload, callbacks filled in by the caller)
 * to the Engine's socket, at PATH under the API version. A transport
 * failure is an error; any HTTP status is left in RESP. */
int engine_send(struct hearth_ctx *ctx, struct http_request *req, const char *path, struct http_response *resp,
		struct hearth_error **err) WUR;

/* One Engine call: METHOD PATH (below API) with an optional JSON BODY;
 * *RET gets the JSON answer, *RET_STATUS the HTTP status. Non-2xx is an
 * error carrying the Engine's message (404: HEARTH_ERR_NOT_FOUND). */
int engine(struct hearth_ctx *ctx, const char *method, const char *path, json_t *body, json_t **ret, long *ret_status,
	   struct hearth_error **err) WUR;

/* Every call has a deadline: an Engine (or anything on its socket) that
 * accepts and never answers costs this long, once per process. */
#define ENGINE_CALL_MS 15000
/* Reading a container's state, which ps and status do for each guest. */
#define ENGINE_QUICK_MS 5000

/* engine() with its own deadline (0: ENGINE_CALL_MS). */
int engine_timed(struct hearth_ctx *ctx, const char *method, const char *path, json_t *body, json_t **ret,
		 long *ret_status, int timeout_ms, struct hearth_error **err) WUR;

/* The body of the Engine's container create for G running IMAGE: the
 * docker backend's whole translation of a start configuration. */
json_t *docker_container_spec(const struct guest *g, const char *image);

/* The image for G's rootfs as "repo:tag", imported or loaded once per
 * content (docker_image.c). */
char *docker_ensure_image(struct guest *g, struct hearth_error **err);

/* Loads ARCHIVE (`docker save` output, maybe gzipped) and tags what it
 * held as REPO:TAG. */
int docker_load_archive(struct hearth_ctx *ctx, const char *archive, const char *repo, const char *tag,
			struct hearth_error **err) WUR;

/* The Engine's own copy of an OCI image guest's image (docker_oci.c):
 * pulled by the Engine from the registry, loaded from an archive or a
 * layout, or the Engine's already; tagged IMAGE_REPO:<digest hex>.
 * Sets CFG's image_digest. */
#define DOCKER_IMAGE_REPO "hearth-image"
int docker_image_prepare(struct hearth_ctx *ctx, struct hearth_config *cfg, struct hearth_error **err) WUR;

/* The workload.json of an image guest, from the Engine's image config. */
char *docker_image_workload(struct hearth_ctx *ctx, const struct hearth_config *cfg, struct hearth_error **err);

#endif
