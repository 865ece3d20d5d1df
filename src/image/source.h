/* Image sources: from a reference to what an unpack needs, every piece
 * checked against its digest. An OCI layout is read in place; an archive
 * (oci-archive, docker-archive) is first extracted, blob by blob and by
 * name only, into a private directory that image_plan_release removes. */
#ifndef HEARTH_IMAGE_SOURCE_H
#define HEARTH_IMAGE_SOURCE_H

#include <jansson.h>

#include "digest.h"
#include "ref.h"

struct image_layer {
	char *path;   /* the blob, a file */
	char *digest; /* what its bytes must hash to */
};

struct image_plan {
	/* The store key: the manifest's digest (OCI layouts, registries),
	 * else the config's (docker archives, which carry no manifest). */
	char digest[DIGEST_MAX];
	json_t *config; /* the image configuration, checked */
	struct image_layer *layers;
	size_t n_layers;
	char *tmpdir; /* an archive's extraction, or NULL */
};

/* Resolves REF (its canonical text REF_TEXT for errors) to a plan.
 * TMP_PARENT is where an archive may be extracted. */
int image_plan_resolve(const struct image_ref *ref, const char *ref_text, const char *tmp_parent,
		       struct image_plan *plan, struct hearth_error **err) WUR;
void image_plan_release(struct image_plan *plan);

/* The platform this host runs: "amd64", "arm64", ... (GOARCH names). */
const char *image_host_arch(void);

#endif
