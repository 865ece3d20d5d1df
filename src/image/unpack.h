/* Applying OCI image layers (tar streams, gzip or zstd or plain) to a
 * staging directory, in order, with whiteouts and opaque directories.
 * A layer is untrusted: every name is resolved inside the staging root
 * (openat2 RESOLVE_IN_ROOT, so an absolute symlink points into the image,
 * never out of it), ".." is refused, and entries and bytes are capped. */
#ifndef HEARTH_IMAGE_UNPACK_H
#define HEARTH_IMAGE_UNPACK_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/util.h"

#define UNPACK_MAX_ENTRIES (1u << 20)

struct unpack {
	int rootfd;	    /* the staging root, an O_DIRECTORY fd */
	bool owners;	    /* chown and mknod (root only) */
	uint64_t max_bytes; /* file data, all layers together */
	uint64_t entries;   /* so far, all layers together */
	uint64_t bytes;	    /* file data written so far */
};

/* Applies the layer read from FD (WHAT names it in errors). */
int unpack_layer(struct unpack *u, int fd, const char *what, struct hearth_error **err) WUR;

#endif
