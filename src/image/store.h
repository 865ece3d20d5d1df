/* The image store, STATE_DIR/images: one directory per image, named by
 * the hex of its digest, holding rootfs.ext4 (the layers applied, with
 * hearth-init at /.hearth/init) and image.json (the references that
 * named it, the digest, the image's run config, size, time). A directory
 * appears whole (renamed from .tmp) or not at all; building one holds
 * HEX.lock, so concurrent pulls of one image do the work once. */
#ifndef HEARTH_IMAGE_STORE_H
#define HEARTH_IMAGE_STORE_H

#include <jansson.h>

#include "hearth/context.h"
#include "hearth/contract.h"
#include "lib/util.h"

/* Where the reserved files live in an image hearth built. */
#define IMAGE_INIT_PATH HEARTH_IMAGE_INIT

struct image_entry {
	char *dir;    /* the image's directory */
	json_t *meta; /* image.json */
};

/* Resolves REF, converting it unless the store has its digest; adds REF
 * to the entry's references. PIN, when set, is the digest REF must
 * resolve to: an entry the store has already is taken as it is, and a
 * registry is asked for PIN rather than REF's tag. */
int image_store_ensure(struct hearth_ctx *ctx, const char *ref, const char *pin, struct image_entry *ret,
		       struct hearth_error **err) WUR;

struct image_plan;

/* Resolves REF (and checks PIN, as image_store_ensure does) without
 * converting anything: for a backend that loads images itself. The
 * plan's files live in the store's .tmp until image_plan_release. */
int image_store_plan(struct hearth_ctx *ctx, const char *ref, const char *pin, struct image_plan *plan,
		     struct hearth_error **err) WUR;

/* The entry whose digest is DIGEST, or whose references hold REF. */
int image_store_find(struct hearth_ctx *ctx, const char *ref_or_digest, struct image_entry *ret,
		     struct hearth_error **err) WUR;

/* Every entry, oldest first. */
int image_store_list(struct hearth_ctx *ctx, struct image_entry **ret, size_t *ret_n, struct hearth_error **err) WUR;

int image_store_remove(struct hearth_ctx *ctx, const struct image_entry *e, struct hearth_error **err) WUR;

void image_entry_release(struct image_entry *e);

#endif
