/* A client of the Distribution API v2 (a Docker or OCI registry), with
 * libcurl: manifests and blobs, each checked against its digest; token
 * (Bearer) and basic auth with credentials from REGISTRY_AUTH_FILE or
 * ~/.docker/config.json. A registry is spoken to over verified https,
 * unless it is insecure, as a loopback one is and those the context
 * names (HEARTH_INSECURE_REGISTRIES, "*" for all): then over https
 * unverified, and over http when it speaks no TLS. Credentials stay in memory: never in argv, a file or
 * an error message. */
#ifndef HEARTH_IMAGE_REGISTRY_H
#define HEARTH_IMAGE_REGISTRY_H

#include "digest.h"
#include "hearth/context.h"
#include "ref.h"

struct registry;

/* For REF (docker transport); REF_TEXT names it in errors. */
struct registry *registry_new(const struct hearth_ctx *ctx, const struct image_ref *ref, const char *ref_text);
void registry_free(struct registry *r);

/* The manifest (or index) REFERENCE (a tag or a digest) names: its body,
 * media type and digest (checked when REFERENCE is a digest). */
int registry_manifest(struct registry *r, const char *reference, char **ret_body, size_t *ret_len, char **ret_type,
		      char ret_digest[DIGEST_MAX], struct hearth_error **err) WUR;

/* Blob DIGEST (SIZE bytes, as its descriptor says) into PATH (created
 * 0600), checked, with progress; -1 and no PATH on any failure. */
int registry_blob(struct registry *r, const char *digest, uint64_t size, const char *path,
		  struct hearth_error **err) WUR;

/* Blob DIGEST in memory (at most MAX bytes), checked. */
int registry_blob_mem(struct registry *r, const char *digest, size_t max, char **ret, size_t *ret_len,
		      struct hearth_error **err) WUR;

/* "user:password" for registry HOST from the context's auth file, or
 * NULL; the caller wipes and frees it. */
char *registry_credentials(const struct hearth_ctx *ctx, const char *host);

#endif
