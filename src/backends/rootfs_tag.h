/* A rootfs's image name in a container engine (rootfs_tag.c). */
#ifndef HEARTH_ROOTFS_TAG_H
#define HEARTH_ROOTFS_TAG_H

#include "lib/ctx.h"
#include "lib/util.h"

/* PREFIX and the rootfs file's name, lower-cased, [a-z0-9_-] only. */
char *rootfs_image_repo(const char *rootfs, const char *prefix);

/* A 16-hex-digit content hash of PATH into OUT, remembered per version
 * of the file in the state root's cache. */
int rootfs_content_hash(struct hearth_ctx *ctx, const char *path, char *out, size_t len, struct hearth_error **err) WUR;

#endif
