/* Image sources: from a reference to what an unpack needs, every piece
 * checked against its digest. An OCI layout is read in place; an archive
 * (oci-archive, docker-archive) is first extracted, blob by blob and by
 * name only, into a private directory that image_plan_release removes. */
#ifndef HEARTH_IMAGE_SOURCE_H
#define HEARTH_IMAGE_SOURCE_H

#include <jansson.h>

#include "digest.h"
#include "hearth/context.h"
#include "ref.h"

struct image_layer {
	char *path;    /* the blob, a file; NULL until image_plan_fetch */
	char *digest;  /* what its bytes must hash to */
	uint64_t size; /* as its descriptor says; 0: unknown */
};

struct registry;

struct image_plan {
	/* The store key: the manifest's digest (OCI layouts, registries),
	 * else the config's (docker archives, which carry no manifest). */
	char digest[DIGEST_MAX];
	json_t *config;	  /* the image configuration, checked */
	char *config_raw; /* its bytes, whose digest is the image's ID */
	size_t config_len;
	struct image_layer *layers;
	size_t n_layers;
	char *tmpdir;		   /* an archive's extraction, a registry's blobs, or NULL */
	struct registry *registry; /* where the layers come from, or NULL */
};

/* Resolves REF (its canonical text REF_TEXT for errors) to a plan: the
 * manifest and the config, not yet the layers of a registry's image.
 * TMP_PARENT is where an archive is extracted, or blobs downloaded. */
int image_plan_resolve(const struct hearth_ctx *ctx, const struct image_ref *ref, const char *ref_text,
		       const char *tmp_parent, struct image_plan *plan, struct hearth_error **err) WUR;

/* Downloads the layers that are not files yet. */
int image_plan_fetch(struct image_plan *plan, struct hearth_error **err) WUR;
void image_plan_release(struct image_plan *plan);

/* The platform this host runs: "amd64", "arm64", ... (GOARCH names). */
const char *image_host_arch(void);

#endif
