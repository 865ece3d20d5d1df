/* Streams an ext4 image's tree as a tar archive, read with libext2fs and
 * written with libarchive: no mount, no root, no copy of the tree. */
#ifndef HEARTH_EXT4TAR_H
#define HEARTH_EXT4TAR_H

#include "util.h"

/* Writes IMAGE's whole tree as an uncompressed tar to FD. Keeps modes,
 * owners, mtimes, symlinks and device nodes. */
struct hearth_ctx;
/* Progress goes to CTX (NULL: nowhere). */
int ext4_to_tar(const struct hearth_ctx *ctx, const char *image, int fd, struct hearth_error **err) WUR;

#endif
