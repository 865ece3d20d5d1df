/* OCI images as guests: pulled or read from a layout or an archive,
 * unpacked once into an ext4 root filesystem in the state root's image
 * store, and run with the image's own Entrypoint, Cmd, Env, WorkingDir,
 * User and StopSignal (hearth_config's image, image_digest, args). */
#ifndef HEARTH_IMAGE_H
#define HEARTH_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "hearth/context.h"
#include "hearth/error.h"

struct hearth_image {
	char *digest;	 /* "sha256:..." of the manifest (of the config for a docker archive) */
	char **refs;	 /* the references that named it, NULL-terminated */
	uint64_t size;	 /* bytes of its root filesystem image */
	int64_t created; /* when hearth converted it (Unix seconds) */
	char *rootfs;	 /* the root filesystem image */
	size_t users;	 /* guests (in any state) made from it */
	char **exposed;	 /* its ExposedPorts ("80/tcp"), NULL-terminated: shown,
			  * published only when a start configuration asks */
};

/* Resolves REF and converts it into the store unless the store has its
 * digest already (then it is only named again). *RET_DIGEST: the digest. */
HEARTH_PUBLIC int hearth_image_pull(struct hearth_ctx *ctx, const char *ref, char **ret_digest,
				    struct hearth_error **err) HEARTH_WUR;

/* The store's images, oldest first. */
HEARTH_PUBLIC int hearth_image_list(struct hearth_ctx *ctx, struct hearth_image **ret, size_t *ret_n,
				    struct hearth_error **err) HEARTH_WUR;
HEARTH_PUBLIC void hearth_images_free(struct hearth_image *images, size_t n);

/* Removes the image named by KEY (a reference it was pulled as, its
 * digest, or 12+ hex digits of it); refuses while a guest uses it. */
HEARTH_PUBLIC int hearth_image_remove(struct hearth_ctx *ctx, const char *key, struct hearth_error **err) HEARTH_WUR;

/* Removes every image no guest uses; *RET_N: how many. */
HEARTH_PUBLIC int hearth_image_prune(struct hearth_ctx *ctx, size_t *ret_n, struct hearth_error **err) HEARTH_WUR;

#endif
