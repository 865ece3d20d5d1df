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

#endif
