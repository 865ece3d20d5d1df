/* Images for the Apple container backend: the ext4 rootfs as a one-layer
 * OCI image archive (the layout `container image save` writes), loaded
 * with `container image load` once per content and tagged with it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apple_container.h"
#include "image/digest.h"
#include "lib/ext4tar.h"
#include "lib/json.h"
#include "lib/state.h"
#include "lib/tarfile.h"
#include "rootfs_tag.h"

#define REPO_PREFIX "hearth.local/"

#if defined(__aarch64__)
#define OCI_ARCH "arm64"
#elif defined(__x86_64__)
#define OCI_ARCH "amd64"
#else
#error "which OCI architecture is this?"
#endif

struct blob {
	char digest[DIGEST_MAX];
	json_int_t size;
};

static void blob_of(const char *text, struct blob *b)
{
	digest_of(text, strlen(text), b->digest);
	b->size = (json_int_t)strlen(text);
}

static int digest_file(int fd, struct blob *b)
{
	struct digest_state *d = digest_begin();
	char buf[1 << 16];
	ssize_t n;
	b->size = 0;
	while ((n = pread(fd, buf, sizeof(buf), b->size)) > 0) {
		digest_update(d, buf, (size_t)n);
		b->size += n;
	}
	digest_end(d, b->digest);
	return n < 0 ? -1 : 0;
}

static char *blob_name(const struct blob *b)
{
	return xasprintf("blobs/sha256/%s", b->digest + 7);
}

/* The archive at PATH: ROOTFS's tree as the one layer, REF its name,
 * CONTENT in a label. */
static int write_archive(struct hearth_ctx *ctx, const char *rootfs, const char *ref, const char *content,
			 const char *dir, const char *path, struct hearth_error **err)
{
	_cleanup_free_ char *layer_path = xasprintf("%s/.image-layer.tar", dir);
	_cleanup_close_ int layer = open(layer_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (layer < 0)
		return fail_errno(err, "apple-container: %s: %s", layer_path, strerror(errno));
	unlink(layer_path); /* open still, gone from the directory */
	struct blob lb, cb, mb;
	if (ext4_to_tar(ctx, rootfs, layer, err) < 0)
		return -1;
	if (digest_file(layer, &lb) < 0)
		return fail_errno(err, "apple-container: reading the layer back: %s", strerror(errno));

	json_t *config =
		json_pack("{s:s, s:s, s:{s:{s:s}}, s:{s:s, s:[s]}}", "architecture", OCI_ARCH, "os", "linux", "config",
			  "Labels", "hearth.content", content, "rootfs", "type", "layers", "diff_ids", lb.digest);
	_cleanup_free_ char *ctext = json_dumps(config, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(config);
	blob_of(ctext, &cb);
	json_t *manifest =
		json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:[{s:s, s:s, s:I}]}", "schemaVersion", 2, "mediaType",
			  "application/vnd.oci.image.manifest.v1+json", "config", "mediaType",
			  "application/vnd.oci.image.config.v1+json", "digest", cb.digest, "size", cb.size, "layers",
			  "mediaType", "application/vnd.oci.image.layer.v1.tar", "digest", lb.digest, "size", lb.size);
	_cleanup_free_ char *mtext = json_dumps(manifest, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(manifest);
	blob_of(mtext, &mb);
	json_t *index = json_pack("{s:i, s:s, s:[{s:s, s:s, s:I, s:{s:s, s:s}, s:{s:s, s:s}}]}", "schemaVersion", 2,
				  "mediaType", "application/vnd.oci.image.index.v1+json", "manifests", "mediaType",
				  "application/vnd.oci.image.manifest.v1+json", "digest", mb.digest, "size", mb.size,
				  "platform", "architecture", OCI_ARCH, "os", "linux", "annotations",
				  "org.opencontainers.image.ref.name", ref, "io.containerd.image.name", ref);
	_cleanup_free_ char *itext = json_dumps(index, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(index);
	const char *layout = "{\"imageLayoutVersion\":\"1.0.0\"}";

	struct archive *a = sym_archive_write_new();
	sym_archive_write_set_format_pax_restricted(a);
	if (sym_archive_write_open_filename(a, path) != ARCHIVE_OK) {
		sym_archive_write_free(a);
		return fail_errno(err, "apple-container: %s: %s", path, strerror(errno));
	}
	_cleanup_free_ char *cname = blob_name(&cb);
	_cleanup_free_ char *mname = blob_name(&mb);
	_cleanup_free_ char *lname = blob_name(&lb);
	int rc = lseek(layer, 0, SEEK_SET) < 0 ? -1 : 0;
	if (rc == 0)
		rc = tar_add_file(a, "oci-layout", layout, (int64_t)strlen(layout), -1) ||
		     tar_add_file(a, "index.json", itext, (int64_t)strlen(itext), -1) ||
		     tar_add_file(a, cname, ctext, cb.size, -1) || tar_add_file(a, mname, mtext, mb.size, -1) ||
		     tar_add_file(a, lname, NULL, lb.size, layer);
	if (sym_archive_write_close(a) != ARCHIVE_OK)
		rc = -1;
	if (rc)
		rc = fail_runtime(err, "apple-container: writing %s: %s", path,
				  sym_archive_error_string(a) ? sym_archive_error_string(a) : strerror(errno));
	sym_archive_write_free(a);
	return rc;
}

/* The images this state root loaded, remembered in its cache so a run
 * asks the tool nothing before `container run`: a name per image. */
static char *memo_name(const char *ref)
{
	return xasprintf("apple-image-%016llx", (unsigned long long)fnv1a(FNV_SEED, ref, strlen(ref)));
}

static bool memo_has(struct hearth_ctx *ctx, const char *ref)
{
	_cleanup_close_ int cache = state_cache_open(ctx);
	_cleanup_free_ char *name = memo_name(ref);
	_cleanup_free_ char *text = NULL;
	return cache >= 0 && read_file_at(cache, name, 4096, &text, NULL) == 0 && strcmp(text, ref) == 0;
}

static void memo_set(struct hearth_ctx *ctx, const char *ref, bool loaded)
{
	_cleanup_close_ int cache = state_cache_open(ctx);
	_cleanup_free_ char *name = memo_name(ref);
	if (cache < 0)
		return;
	if (loaded)
		IGNORE_FAILURE(write_file_atomic_at(cache, name, ref, strlen(ref), 0600));
	else
		unlinkat(cache, name, 0);
}

char *ac_ensure_image(struct guest *g, bool *ret_trusted, struct hearth_error **err)
{
	const struct hearth_config *cfg = g->cfg;
	char tag[64];
	if (cfg->revision_hash && *cfg->revision_hash)
		snprintf(tag, sizeof(tag), "%s", cfg->revision_hash);
	else if (rootfs_content_hash(g->ctx, cfg->rootfs_path, tag, sizeof(tag), err) < 0)
		return NULL;
	_cleanup_free_ char *repo = rootfs_image_repo(cfg->rootfs_path, REPO_PREFIX);
	char *ref = xasprintf("%s:%s", repo, tag);
	*ret_trusted = *ret_trusted && memo_has(g->ctx, ref);
	if (*ret_trusted)
		return ref; /* loaded before: the run says if it is gone */
	char *inspect[] = { "container", "image", "inspect", ref, NULL };
	struct hearth_error *e = NULL;
	int rc = ac_call(inspect, AC_CALL_MS, NULL, &e);
	if (rc == 0) {
		memo_set(g->ctx, ref, true);
		return ref; /* this content is loaded already */
	}
	if (rc < 0 || e->kind != HEARTH_ERR_NOT_FOUND) {
		free(ref);
		hearth_error_pass(err, e);
		return NULL;
	}
	hearth_error_free(e);
	if (lazy_archive(err) < 0) {
		free(ref);
		return NULL;
	}
	_cleanup_free_ char *path = xasprintf("%s/.image.tar", g->dir);
	rc = write_archive(g->ctx, cfg->rootfs_path, ref, tag, g->dir, path, err);
	if (rc == 0) {
		char *load[] = { "container", "image", "load", "--input", path, NULL };
		rc = ac_call(load, AC_START_MS, NULL, err) == 0 ? 0 : -1;
	}
	unlink(path);
	if (rc < 0) {
		free(ref);
		return NULL;
	}
	memo_set(g->ctx, ref, true);
	return ref;
}

void ac_image_forget(struct hearth_ctx *ctx, const char *ref)
{
	memo_set(ctx, ref, false);
}
