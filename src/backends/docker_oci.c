/* OCI image guests on the Docker backend: the Engine runs the image
 * itself (no ext4 conversion). A registry image is pulled by the Engine,
 * by digest; a docker archive is loaded as it is; an OCI layout or
 * archive is handed over as `docker save` output made from its blobs;
 * a docker-daemon image is there already. Each is tagged
 * hearth-image:<digest hex>, so a second run finds it at once. */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "docker.h"
#include "image/ref.h"
#include "image/registry.h"
#include "image/source.h"
#include "image/store.h"
#include "image/workload.h"
#include "lib/lazylib.h"
#include "lib/tarfile.h"

static char *local_tag(const char *digest)
{
	return xasprintf(DOCKER_IMAGE_REPO ":%s", digest + 7);
}

static bool engine_has(struct hearth_ctx *ctx, const char *ref)
{
	_cleanup_free_ char *path = xasprintf("/images/%s/json", ref);
	return engine(ctx, "GET", path, NULL, NULL, NULL, NULL) == 0;
}

/* X-Registry-Auth for HOST from the auth file: base64url JSON. */
static char *registry_auth_header(struct hearth_ctx *ctx, const char *host)
{
	char *cred = registry_credentials(ctx, host);
	if (!cred)
		return NULL;
	char *colon = strchr(cred, ':');
	*colon = '\0';
	json_t *o = json_pack("{s:s, s:s, s:s}", "username", cred, "password", colon + 1, "serveraddress", host);
	char *text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	size_t len = strlen(text);
	unsigned char *b64 = xcalloc(4 * ((len + 2) / 3) + 1, 1);
	lazy_crypto();
	sym_EVP_EncodeBlock(b64, (const unsigned char *)text, (int)len);
	for (unsigned char *p = b64; *p; p++)
		*p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
	char *header = xasprintf("X-Registry-Auth: %s", b64);
	secure_zero(text, len);
	secure_zero(cred, strlen(cred) + strlen(colon + 1) + 1);
	free(text);
	free(cred);
	free(b64);
	return header;
}

/* The pull's progress stream ends with {"error": ...} when it failed. */
static int pull_scan(const char *data, size_t len, void *arg)
{
	struct strbuf *last = arg;
	if (last->len < 4096)
		strbuf_append(last, data, len < 4096 ? len : 4096);
	return 0;
}

static int engine_pull(struct hearth_ctx *ctx, const struct image_ref *ref, const char *digest, const char *ref_text,
		       struct hearth_error **err)
{
	_cleanup_free_ char *path =
		xasprintf("/images/create?fromImage=%s/%s&tag=%s", ref->registry, ref->repository, digest);
	_cleanup_free_ char *auth = registry_auth_header(ctx, ref->registry);
	struct strbuf out = { 0 };
	strbuf_append(&out, "", 0);
	struct http_request req = {
		.method = "POST", .upload_fd = -1, .header = auth, .on_data = pull_scan, .arg = &out, .timeout_ms = 0
	};
	struct http_response resp = { 0 };
	req.timeout_ms = 30 * 60 * 1000;
	int rc = engine_send(ctx, &req, path, &resp, err);
	if (auth)
		secure_zero(auth, strlen(auth));
	const char *e = strstr(out.buf, "\"error\"");
	if (rc == 0 && (resp.status != 200 || e)) {
		json_t *o = e ? json_loads(strrchr(out.buf, '{'), JSON_DISABLE_EOF_CHECK, NULL) : NULL;
		const char *msg = json_string_value(json_object_get(o, "error"));
		rc = fail_runtime(err, "image: %s: the Docker Engine's pull failed: %s", ref_text,
				  msg	       ? msg
				  : out.buf[0] ? out.buf
					       : "no message");
		json_decref(o);
	}
	strbuf_release(&out);
	http_response_release(&resp);
	return rc;
}

/* A zstd layer decompressed to PATH: the Engine (20.10) reads plain and
 * gzip layers only. */
static int unzstd(const char *src, const char *path, struct hearth_error **err)
{
	if (lazy_archive(err) < 0)
		return -1;
	struct archive *a = sym_archive_read_new();
	sym_archive_read_support_filter_all(a);
	sym_archive_read_support_format_raw(a);
	struct archive_entry *e;
	_cleanup_close_ int out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	int rc = out < 0 || sym_archive_read_open_filename(a, src, 1 << 16) != ARCHIVE_OK ||
				 sym_archive_read_next_header(a, &e) != ARCHIVE_OK ||
				 sym_archive_read_data_into_fd(a, out) != ARCHIVE_OK
			 ? fail_runtime(err, "image: decompressing %s: %s", src,
					out < 0 ? strerror(errno) : sym_archive_error_string(a))
			 : 0;
	sym_archive_read_free(a);
	return rc;
}

/* PLAN's image as `docker save` output at PATH, tagged TAG. */
static int write_save(const struct image_plan *plan, const char *tag, const char *path, struct hearth_error **err)
{
	if (lazy_archive(err) < 0)
		return -1;
	struct archive *a = sym_archive_write_new();
	sym_archive_write_set_format_pax_restricted(a);
	if (sym_archive_write_open_filename(a, path) != ARCHIVE_OK) {
		sym_archive_write_free(a);
		return fail_runtime(err, "image: %s: %s", path, strerror(errno));
	}
	char cdigest[DIGEST_MAX];
	digest_of(plan->config_raw, plan->config_len, cdigest);
	_cleanup_free_ char *cname = xasprintf("%s.json", cdigest + 7);
	int rc = tar_add_file(a, cname, plan->config_raw, (int64_t)plan->config_len, -1);
	json_t *layers = json_array();
	for (size_t i = 0; rc == 0 && i < plan->n_layers; i++) {
		const char *src = plan->layers[i].path;
		_cleanup_free_ char *plain = xasprintf("%s.tar", path);
		unsigned char magic[4] = { 0 };
		_cleanup_close_ int fd = open(src, O_RDONLY | O_CLOEXEC);
		if (fd >= 0 && pread(fd, magic, 4, 0) == 4 && memcmp(magic, "\x28\xb5\x2f\xfd", 4) == 0) {
			close(fd);
			fd = -1;
			if (unzstd(src, plain, err) < 0) {
				unlink(plain);
				rc = -1;
				break;
			}
			fd = open(plain, O_RDONLY | O_CLOEXEC);
			unlink(plain);
		}
		struct stat st;
		_cleanup_free_ char *name = xasprintf("%zu/layer.tar", i);
		if (fd < 0 || fstat(fd, &st) < 0 || tar_add_file(a, name, NULL, st.st_size, fd) < 0)
			rc = fail_runtime(err, "image: writing layer %zu for the Engine: %s", i,
					  sym_archive_error_string(a) ? sym_archive_error_string(a) : strerror(errno));
		json_array_append_new(layers, json_string(name));
	}
	json_t *manifest = json_pack("[{s:s, s:[s], s:o}]", "Config", cname, "RepoTags", tag, "Layers", layers);
	_cleanup_free_ char *mtext = json_dumps(manifest, JSON_COMPACT);
	json_decref(manifest);
	if (rc == 0 && tar_add_file(a, "manifest.json", mtext, (int64_t)strlen(mtext), -1) < 0)
		rc = fail_runtime(err, "image: writing the manifest for the Engine: %s", sym_archive_error_string(a));
	if (sym_archive_write_close(a) != ARCHIVE_OK && rc == 0)
		rc = fail_runtime(err, "image: %s: %s", path, sym_archive_error_string(a));
	sym_archive_write_free(a);
	return rc;
}

/* Hands PLAN's image to the Engine and tags it TAG. */
static int engine_take(struct hearth_ctx *ctx, const struct image_ref *ref, const struct image_plan *plan,
		       const char *ref_text, const char *tag, struct hearth_error **err)
{
	char id[DIGEST_MAX];
	digest_of(plan->config_raw, plan->config_len, id);
	const char *colon = strchr(tag, ':');
	_cleanup_free_ char *repo = xstrndup(tag, (size_t)(colon - tag));
	_cleanup_free_ char *tag_path = xasprintf("/images/%s/tag?repo=%s&tag=%s", id, repo, colon + 1);
	switch (ref->transport) {
	case IMAGE_DOCKER:
		if (!engine_has(ctx, id) && engine_pull(ctx, ref, plan->digest, ref_text, err) < 0)
			return -1;
		break;
	case IMAGE_DOCKER_ARCHIVE:
		if (!engine_has(ctx, id) && docker_load_archive(ctx, ref->path, repo, colon + 1, err) < 0)
			return -1;
		break;
	case IMAGE_DOCKER_DAEMON:
		break; /* the Engine's own */
	default: {
		if (engine_has(ctx, id))
			break;
		_cleanup_free_ char *save = xasprintf("%s/engine.tar", plan->tmpdir ? plan->tmpdir : "/tmp");
		int rc = write_save(plan, tag, save, err);
		if (rc == 0)
			rc = docker_load_archive(ctx, save, repo, colon + 1, err);
		unlink(save);
		if (rc < 0)
			return -1;
	}
	}
	return engine(ctx, "POST", tag_path, NULL, NULL, NULL, err);
}

int docker_image_prepare(struct hearth_ctx *ctx, struct hearth_config *cfg, struct hearth_error **err)
{
	if (cfg->image_digest) {
		_cleanup_free_ char *tag = local_tag(cfg->image_digest);
		if (digest_valid(cfg->image_digest) && engine_has(ctx, tag))
			return 0; /* the exact image, in the Engine already */
	}
	struct image_ref ref;
	if (image_ref_parse(cfg->image, &ref, err) < 0)
		return -1;
	if (ref.transport == IMAGE_DOCKER_DAEMON) {
		/* The Engine's own image: its ID (its config's digest) is its digest. */
		_cleanup_free_ char *path = xasprintf("/images/%s:%s/json", ref.repository, ref.tag);
		json_t *o = NULL;
		struct hearth_error *e = NULL;
		int rc = engine(ctx, "GET", path, NULL, &o, NULL, &e);
		const char *id = json_string_value(json_object_get(o, "Id"));
		if (rc < 0 && e->kind == HEARTH_ERR_NOT_FOUND) {
			hearth_error_free(e);
			rc = hearth_fail(err, HEARTH_ERR_NOT_FOUND, ENOENT,
					 "image: %s: no such image in the Docker Engine", cfg->image);
		} else if (rc < 0) {
			hearth_error_pass(err, e);
		} else if (!digest_valid(id)) {
			rc = fail_runtime(err, "image: %s: the Engine gave no image ID", cfg->image);
		} else if (cfg->image_digest && strcmp(cfg->image_digest, id) != 0) {
			rc = fail_invalid(err, "image_digest: %s now resolves to %s, not %s", cfg->image, id,
					  cfg->image_digest);
		} else {
			_cleanup_free_ char *tag =
				xasprintf("/images/%s/tag?repo=" DOCKER_IMAGE_REPO "&tag=%s", id, id + 7);
			rc = engine(ctx, "POST", tag, NULL, NULL, NULL, err);
			if (rc == 0) {
				free(cfg->image_digest);
				cfg->image_digest = xstrdup(id);
			}
		}
		json_decref(o);
		image_ref_release(&ref);
		return rc;
	}
	struct image_plan plan;
	int rc = image_store_plan(ctx, cfg->image, cfg->image_digest, &plan, err);
	if (rc == 0) {
		_cleanup_free_ char *tag = local_tag(plan.digest);
		if (!engine_has(ctx, tag))
			rc = engine_take(ctx, &ref, &plan, cfg->image, tag, err);
		if (rc == 0) {
			free(cfg->image_digest);
			cfg->image_digest = xstrdup(plan.digest);
		}
		image_plan_release(&plan);
	}
	image_ref_release(&ref);
	return rc;
}

char *docker_image_workload(struct hearth_ctx *ctx, const struct hearth_config *cfg, struct hearth_error **err)
{
	_cleanup_free_ char *tag = local_tag(cfg->image_digest);
	_cleanup_free_ char *path = xasprintf("/images/%s/json", tag);
	json_t *o = NULL;
	if (engine(ctx, "GET", path, NULL, &o, NULL, err) < 0)
		return NULL;
	char *w = image_workload(json_object_get(o, "Config"), cfg, err);
	json_decref(o);
	return w;
}
