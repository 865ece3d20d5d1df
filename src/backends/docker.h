/* What the Docker backend's container and image code share. */
#ifndef HEARTH_DOCKER_H
#define HEARTH_DOCKER_H

#include <jansson.h>

#include "backend.h"

/* The Engine API version hearth speaks (Podman's compatible socket too). */
#define API "/v1.41"

/* The Engine's socket ($DOCKER_HOST unix://, else /var/run/docker.sock),
 * or NULL with *RET_WHY saying why not. */
char *docker_socket(char **ret_why);

/* One Engine call: METHOD PATH (below API) with an optional JSON BODY;
 * *RET gets the JSON answer, *RET_STATUS the HTTP status. Non-2xx is an
 * error carrying the Engine's message (404: HEARTH_ERR_NOT_FOUND). */
int engine(const char *method, const char *path, json_t *body, json_t **ret, long *ret_status,
	   struct hearth_error **err) WUR;

/* The image for G's rootfs as "repo:tag", imported or loaded once per
 * content (docker_image.c). */
char *docker_ensure_image(struct guest *g, struct hearth_error **err);

#endif
