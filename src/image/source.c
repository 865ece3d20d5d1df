#include "source.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#include "lib/ctx.h"
#include "lib/http.h"
#include "registry.h"
#include "lib/lazylib.h"

#define JSON_MAX (4u << 20) /* an index, a manifest, a config */
#define ARCHIVE_MAX_FILES 100000
#define REF_NAME "org.opencontainers.image.ref.name"

static const char *const layer_types[] = {
	"application/vnd.oci.image.layer.v1.tar",
	"application/vnd.oci.image.layer.v1.tar+gzip",
	"application/vnd.oci.image.layer.v1.tar+zstd",
	"application/vnd.oci.image.layer.nondistributable.v1.tar",
	"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
	"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
	"application/vnd.docker.image.rootfs.diff.tar.gzip",
	"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
	NULL,
};

const char *image_host_arch(void)
{
	struct utsname u;
	if (uname(&u) < 0)
		return "amd64";
	if (strcmp(u.machine, "x86_64") == 0)
		return "amd64";
	if (strcmp(u.machine, "aarch64") == 0)
		return "arm64";
	return "unknown";
}

static bool is_index(const char *type)
{
	return type && (strcmp(type, "application/vnd.oci.image.index.v1+json") == 0 ||
			strcmp(type, "application/vnd.docker.distribution.manifest.list.v2+json") == 0);
}

/* Blob DIGEST of the layout at DIR, checked, parsed; its bytes in
 * *RET_RAW when asked for. */
static json_t *blob_json_raw(const char *dir, const char *digest, const char *what, const char *ref, char **ret_raw,
			     size_t *ret_len, struct hearth_error **err)
{
	if (!digest_valid(digest)) {
		fail_invalid(err, "image: %s: %s names no sha256 digest (%s)", ref, what, digest ? digest : "none");
		return NULL;
	}
	_cleanup_free_ char *path = xasprintf("%s/blobs/sha256/%s", dir, digest + 7);
	_cleanup_free_ char *text = NULL;
	size_t len;
	if (read_file_at(AT_FDCWD, path, JSON_MAX, &text, &len) < 0) {
		fail_invalid(err, "image: %s: %s %s: %s", ref, what, digest, strerror(errno));
		return NULL;
	}
	char got[DIGEST_MAX];
	digest_of(text, len, got);
	if (strcmp(got, digest) != 0) {
		fail_invalid(err, "image: %s: %s does not match its digest (want %s, got %s)", ref, what, digest, got);
		return NULL;
	}
	json_error_t jerr;
	json_t *j = json_loadb(text, len, 0, &jerr);
	if (!json_is_object(j)) {
		json_decref(j);
		fail_invalid(err, "image: %s: %s %s is not a JSON object", ref, what, digest);
		return NULL;
	}
	if (ret_raw) {
		*ret_raw = steal_ptr(&text);
		*ret_len = len;
	}
	return j;
}

static json_t *blob_json(const char *dir, const char *digest, const char *what, const char *ref,
			 struct hearth_error **err)
{
	return blob_json_raw(dir, digest, what, ref, NULL, NULL, err);
}

/* From an index, the manifest for this host's platform. */
static json_t *pick_platform(json_t *index, const char *ref, struct hearth_error **err)
{
	const char *arch = image_host_arch();
	json_t *m;
	size_t i;
	struct strbuf seen = { 0 };
	strbuf_append(&seen, "", 0);
	json_array_foreach(json_object_get(index, "manifests"), i, m)
	{
		json_t *p = json_object_get(m, "platform");
		const char *os = json_string_value(json_object_get(p, "os"));
		const char *a = json_string_value(json_object_get(p, "architecture"));
		if (os && a && strcmp(os, "linux") == 0 && strcmp(a, arch) == 0) {
			strbuf_release(&seen);
			return m;
		}
		strbuf_printf(&seen, "%s%s/%s", seen.len ? ", " : "", os ? os : "?", a ? a : "?");
	}
	fail_invalid(err, "image: %s: no linux/%s image in its index (it has: %s)", ref, arch,
		     seen.len ? seen.buf : "none");
	strbuf_release(&seen);
	return NULL;
}

/* The layers of MANIFEST into PLAN, as files of layout DIR (or to fetch
 * when DIR is NULL). */
static int plan_layers(const char *dir, json_t *manifest, const char *ref, struct image_plan *plan,
		       struct hearth_error **err)
{
	json_t *layers = json_object_get(manifest, "layers");
	if (!json_is_array(layers))
		return fail_invalid(err, "image: %s: the manifest has no layers", ref);
	plan->layers = xcalloc(json_array_size(layers) + 1, sizeof(*plan->layers));
	json_t *l;
	size_t i;
	json_array_foreach(layers, i, l)
	{
		const char *type = json_string_value(json_object_get(l, "mediaType"));
		const char *ld = json_string_value(json_object_get(l, "digest"));
		json_t *size = json_object_get(l, "size");
		bool known = false;
		for (size_t k = 0; type && layer_types[k]; k++)
			known |= strcmp(type, layer_types[k]) == 0;
		if (!known)
			return fail_invalid(err, "image: %s: layer %zu has a media type hearth cannot unpack (%s)", ref,
					    i, type ? type : "none");
		if (!digest_valid(ld))
			return fail_invalid(err, "image: %s: layer %zu names no sha256 digest", ref, i);
		plan->layers[i].path = dir ? xasprintf("%s/blobs/sha256/%s", dir, ld + 7) : NULL;
		plan->layers[i].digest = xstrdup(ld);
		plan->layers[i].size =
			json_is_integer(size) && json_integer_value(size) > 0 ? (uint64_t)json_integer_value(size) : 0;
		plan->n_layers = i + 1;
	}
	return 0;
}

static int plan_from_manifest(const char *dir, const char *digest, json_t *manifest, const char *ref,
			      struct image_plan *plan, struct hearth_error **err)
{
	json_t *cfg = json_object_get(manifest, "config");
	if (!json_is_object(cfg))
		return fail_invalid(err, "image: %s: manifest %s has no config", ref, digest);
	plan->config = blob_json_raw(dir, json_string_value(json_object_get(cfg, "digest")), "config", ref,
				     &plan->config_raw, &plan->config_len, err);
	if (!plan->config)
		return -1;
	snprintf(plan->digest, sizeof(plan->digest), "%s", digest);
	return plan_layers(dir, manifest, ref, plan, err);
}

/* A registry's manifest for this host: through an index when the
 * reference names one. */
static int resolve_registry(const struct hearth_ctx *ctx, const struct image_ref *ref, const char *ref_text,
			    struct image_plan *plan, struct hearth_error **err)
{
	plan->registry = registry_new(ctx, ref, ref_text);
	_cleanup_free_ char *reference = xstrdup(ref->digest ? ref->digest : ref->tag);
	for (int depth = 0; depth < 3; depth++) {
		char *body = NULL, *type = NULL;
		size_t len;
		char digest[DIGEST_MAX];
		if (registry_manifest(plan->registry, reference, &body, &len, &type, digest, err) < 0)
			return -1;
		json_t *m = json_loadb(body, len, 0, NULL);
		free(body);
		int rc = 0;
		if (!json_is_object(m)) {
			rc = fail_invalid(err, "image: %s: the manifest is not a JSON object", ref_text);
		} else if (is_index(type) || json_object_get(m, "manifests")) {
			json_t *desc = pick_platform(m, ref_text, err);
			const char *d = json_string_value(json_object_get(desc, "digest"));
			if (!desc)
				rc = -1;
			else if (!digest_valid(d))
				rc = fail_invalid(err, "image: %s: its index names no sha256 digest", ref_text);
			else {
				free(reference);
				reference = xstrdup(d);
			}
			free(type);
			json_decref(m);
			if (rc < 0)
				return -1;
			continue;
		} else {
			const char *cd = json_string_value(json_object_get(json_object_get(m, "config"), "digest"));
			char *ctext = NULL;
			size_t clen = 0;
			if (!digest_valid(cd))
				rc = fail_invalid(err, "image: %s: the manifest names no config digest", ref_text);
			else if (registry_blob_mem(plan->registry, cd, JSON_MAX, &ctext, &clen, err) < 0)
				rc = -1;
			else if (!(plan->config = json_loadb(ctext, clen, 0, NULL)) || !json_is_object(plan->config))
				rc = fail_invalid(err, "image: %s: the config is not a JSON object", ref_text);
			plan->config_raw = ctext;
			plan->config_len = clen;
			snprintf(plan->digest, sizeof(plan->digest), "%s", digest);
			if (rc == 0)
				rc = plan_layers(NULL, m, ref_text, plan, err);
		}
		free(type);
		json_decref(m);
		return rc;
	}
	return fail_invalid(err, "image: %s: indexes nested too deep", ref_text);
}

int image_plan_fetch(struct image_plan *plan, struct hearth_error **err)
{
	for (size_t i = 0; i < plan->n_layers; i++) {
		struct image_layer *l = &plan->layers[i];
		if (l->path)
			continue;
		_cleanup_free_ char *path = xasprintf("%s/%s", plan->tmpdir, l->digest + 7);
		if (registry_blob(plan->registry, l->digest, l->size, path, err) < 0)
			return -1;
		l->path = steal_ptr(&path);
	}
	return 0;
}

static int resolve_layout(const char *dir, const char *tag, const char *ref, struct image_plan *plan,
			  struct hearth_error **err)
{
	_cleanup_free_ char *path = xasprintf("%s/index.json", dir);
	_cleanup_free_ char *text = NULL;
	if (read_file_at(AT_FDCWD, path, JSON_MAX, &text, NULL) < 0)
		return fail_invalid(err, "image: %s: not an OCI image layout (index.json: %s)", ref, strerror(errno));
	json_t *index = json_loads(text, 0, NULL);
	json_t *manifests = json_object_get(index, "manifests");
	json_t *desc = NULL, *m;
	size_t i;
	json_array_foreach(manifests, i, m)
	{
		const char *name = json_string_value(json_object_get(json_object_get(m, "annotations"), REF_NAME));
		if (tag ? name && strcmp(name, tag) == 0 : json_array_size(manifests) == 1)
			desc = m;
	}
	int rc = 0;
	json_t *owner = json_incref(index); /* what DESC points into */
	if (!desc)
		rc = tag ? fail_invalid(err, "image: %s: no image tagged %s in the layout", ref, tag)
			 : fail_invalid(err, "image: %s: the layout holds %zu images; name one with :TAG", ref,
					json_array_size(manifests));
	for (int depth = 0; rc == 0; depth++) {
		const char *type = json_string_value(json_object_get(desc, "mediaType"));
		const char *digest = json_string_value(json_object_get(desc, "digest"));
		json_t *blob =
			depth < 4 ? blob_json(dir, digest, is_index(type) ? "index" : "manifest", ref, err) : NULL;
		if (!blob) {
			rc = depth < 4 ? -1 : fail_invalid(err, "image: %s: indexes nested too deep", ref);
			break;
		}
		if (is_index(type) || json_object_get(blob, "manifests")) {
			json_decref(owner);
			owner = blob;
			desc = pick_platform(blob, ref, err);
			rc = desc ? 0 : -1;
			continue;
		}
		rc = plan_from_manifest(dir, digest, blob, ref, plan, err);
		json_decref(blob);
		break;
	}
	json_decref(owner);
	json_decref(index);
	return rc;
}

/* Extracts the regular files of archive PATH into DIR as DIR/f<N>, and
 * returns {name: "DIR/f<N>"}: names are looked up, never used as paths. */
static json_t *extract_archive(const char *path, const char *dir, const char *ref, struct hearth_error **err)
{
	if (lazy_archive(err) < 0)
		return NULL;
	struct archive *a = sym_archive_read_new();
	sym_archive_read_support_filter_all(a);
	sym_archive_read_support_format_tar(a);
	json_t *files = json_object();
	if (sym_archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK) {
		fail_invalid(err, "image: %s: not a tar archive (%s)", ref, sym_archive_error_string(a));
		goto fail;
	}
	struct archive_entry *e;
	int r;
	size_t n = 0;
	while ((r = sym_archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		if (sym_archive_entry_filetype(e) != AE_IFREG)
			continue;
		if (++n > ARCHIVE_MAX_FILES) {
			fail_invalid(err, "image: %s: more than %u files in the archive", ref, ARCHIVE_MAX_FILES);
			goto fail;
		}
		const char *name = sym_archive_entry_pathname(e);
		while (name && str_has_prefix(name, "./"))
			name += 2;
		_cleanup_free_ char *dst = xasprintf("%s/f%zu", dir, n);
		_cleanup_close_ int fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0 || sym_archive_read_data_into_fd(a, fd) != ARCHIVE_OK) {
			fail_runtime(err, "image: %s: extracting %s: %s", ref, name ? name : "?",
				     fd < 0 ? strerror(errno) : sym_archive_error_string(a));
			goto fail;
		}
		if (name)
			json_object_set_new(files, name, json_string(dst));
	}
	if (r != ARCHIVE_EOF) {
		fail_invalid(err, "image: %s: not a tar archive, or a broken one (%s)", ref, sym_archive_error_string(a));
		goto fail;
	}
	sym_archive_read_free(a);
	return files;
fail:
	sym_archive_read_free(a);
	json_decref(files);
	return NULL;
}

/* An OCI archive's layout, rebuilt as DIR/blobs/sha256/HEX + index.json. */
static int layout_from_archive(json_t *files, const char *dir, const char *ref, struct hearth_error **err)
{
	_cleanup_free_ char *blobs = xasprintf("%s/blobs/sha256", dir);
	if (mkdir_p(blobs, 0700) < 0)
		return fail_errno(err, "image: mkdir %s: %s", blobs, strerror(errno));
	const char *name;
	json_t *v;
	json_object_foreach(files, name, v)
	{
		const char *hex = str_has_prefix(name, "blobs/sha256/") ? name + 13 : NULL;
		_cleanup_free_ char *dst = NULL;
		if (strcmp(name, "index.json") == 0)
			dst = xasprintf("%s/index.json", dir);
		else if (hex && strlen(hex) == DIGEST_HEX_LEN && strspn(hex, "0123456789abcdef") == DIGEST_HEX_LEN)
			dst = xasprintf("%s/%s", blobs, hex);
		if (dst && rename(json_string_value(v), dst) < 0)
			return fail_errno(err, "image: %s: %s: %s", ref, name, strerror(errno));
	}
	return 0;
}

/* `docker save` output: manifest.json, the config, uncompressed layers
 * checked against the config's diff_ids. */
static int resolve_docker_archive(json_t *files, const char *ref, struct image_plan *plan, struct hearth_error **err)
{
	const char *mpath = json_string_value(json_object_get(files, "manifest.json"));
	_cleanup_free_ char *text = NULL;
	if (!mpath || read_file_at(AT_FDCWD, mpath, JSON_MAX, &text, NULL) < 0)
		return fail_invalid(err, "image: %s: not a docker archive (no manifest.json)", ref);
	json_t *manifest = json_loads(text, 0, NULL);
	json_t *first = json_array_get(manifest, 0);
	const char *cname = json_string_value(json_object_get(first, "Config"));
	json_t *layers = json_object_get(first, "Layers");
	const char *cpath = cname ? json_string_value(json_object_get(files, cname)) : NULL;
	_cleanup_free_ char *ctext = NULL;
	size_t clen = 0;
	int rc = 0;
	if (json_array_size(manifest) != 1)
		rc = fail_invalid(err, "image: %s: the archive holds %zu images; hearth takes one", ref,
				  json_array_size(manifest));
	else if (!cpath || !json_is_array(layers) || read_file_at(AT_FDCWD, cpath, JSON_MAX, &ctext, &clen) < 0)
		rc = fail_invalid(err, "image: %s: the archive's manifest names no config or layers", ref);
	json_t *diff_ids = NULL;
	if (rc == 0) {
		digest_of(ctext, clen, plan->digest);
		plan->config = json_loadb(ctext, clen, 0, NULL);
		plan->config_raw = steal_ptr(&ctext);
		plan->config_len = clen;
		diff_ids = json_object_get(json_object_get(plan->config, "rootfs"), "diff_ids");
		if (json_array_size(diff_ids) != json_array_size(layers))
			rc = fail_invalid(err, "image: %s: %zu layers but %zu diff_ids in its config", ref,
					  json_array_size(layers), json_array_size(diff_ids));
	}
	plan->layers = xcalloc(json_array_size(layers) + 1, sizeof(*plan->layers));
	json_t *l;
	size_t i;
	json_array_foreach(layers, i, l)
	{
		if (rc < 0)
			break;
		const char *lpath =
			json_string_value(json_object_get(files, json_string_value(l) ? json_string_value(l) : ""));
		const char *want = json_string_value(json_array_get(diff_ids, i));
		if (!lpath || !digest_valid(want)) {
			rc = fail_invalid(err, "image: %s: layer %zu is missing from the archive", ref, i);
			break;
		}
		plan->layers[i].path = xstrdup(lpath);
		plan->layers[i].digest = xstrdup(want);
		plan->n_layers = i + 1;
	}
	json_decref(manifest);
	return rc;
}

static int write_fd(const char *data, size_t len, void *arg)
{
	return write_all(*(int *)arg, data, len);
}

/* `docker save NAME:TAG` through the Engine API into PATH. */
static int daemon_export(const struct hearth_ctx *ctx, const struct image_ref *ref, const char *ref_text,
			 const char *path, struct hearth_error **err)
{
	const char *host = ctx_get(ctx, HEARTH_SETTING_DOCKER_HOST);
	if (!str_has_prefix(host, "unix://"))
		return fail_invalid(err, "image: %s: DOCKER_HOST=%s: only unix:// sockets are supported", ref_text,
				    host);
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return fail_errno(err, "image: %s: %s", path, strerror(errno));
	_cleanup_free_ char *url = xasprintf("/images/%s:%s/get", ref->repository, ref->tag);
	struct http_request req = {
		.socket_path = host + 7, .method = "GET", .path = url, .upload_fd = -1, .on_data = write_fd, .arg = &fd
	};
	struct http_response resp = { 0 };
	if (http_do(&req, &resp, err) < 0) {
		hearth_error_prefix(err, "image: %s: is dockerd running? ", ref_text);
		return -1;
	}
	http_response_release(&resp);
	if (resp.status == 404)
		return hearth_fail(err, HEARTH_ERR_NOT_FOUND, ENOENT, "image: %s: no such image in the Docker Engine",
				   ref_text);
	if (resp.status != 200)
		return fail_runtime(err, "image: %s: the Docker Engine answered %ld", ref_text, resp.status);
	return 0;
}

int image_plan_resolve(const struct hearth_ctx *ctx, const struct image_ref *ref, const char *ref_text,
		       const char *tmp_parent, struct image_plan *plan, struct hearth_error **err)
{
	memset(plan, 0, sizeof(*plan));
	int rc;
	switch (ref->transport) {
	case IMAGE_DOCKER:
		plan->tmpdir = xasprintf("%s/blobs-XXXXXX", tmp_parent);
		if (!mkdtemp(plan->tmpdir)) {
			rc = fail_errno(err, "image: mkdtemp %s: %s", plan->tmpdir, strerror(errno));
			free(plan->tmpdir);
			plan->tmpdir = NULL;
			break;
		}
		rc = resolve_registry(ctx, ref, ref_text, plan, err);
		break;
	case IMAGE_OCI:
		rc = resolve_layout(ref->path, ref->tag, ref_text, plan, err);
		break;
	case IMAGE_OCI_ARCHIVE:
	case IMAGE_DOCKER_ARCHIVE:
	case IMAGE_DOCKER_DAEMON: {
		plan->tmpdir = xasprintf("%s/extract-XXXXXX", tmp_parent);
		if (!mkdtemp(plan->tmpdir)) {
			rc = fail_errno(err, "image: mkdtemp %s: %s", plan->tmpdir, strerror(errno));
			free(plan->tmpdir);
			plan->tmpdir = NULL;
			break;
		}
		_cleanup_free_ char *saved = xasprintf("%s/daemon.tar", plan->tmpdir);
		if (ref->transport == IMAGE_DOCKER_DAEMON && daemon_export(ctx, ref, ref_text, saved, err) < 0) {
			rc = -1;
			break;
		}
		json_t *files = extract_archive(ref->transport == IMAGE_DOCKER_DAEMON ? saved : ref->path, plan->tmpdir,
						ref_text, err);
		unlink(saved);
		if (!files)
			rc = -1;
		else if (ref->transport != IMAGE_OCI_ARCHIVE)
			rc = resolve_docker_archive(files, ref_text, plan, err);
		else
			rc = layout_from_archive(files, plan->tmpdir, ref_text, err) < 0
				     ? -1
				     : resolve_layout(plan->tmpdir, ref->tag, ref_text, plan, err);
		json_decref(files);
		break;
	}
	default:
		rc = fail_invalid(err,
				  "image: %s: this transport is not built yet (oci:, oci-archive:, "
				  "docker-archive: are)",
				  ref_text);
	}
	if (rc < 0)
		image_plan_release(plan);
	return rc;
}

void image_plan_release(struct image_plan *plan)
{
	for (size_t i = 0; i < plan->n_layers; i++) {
		free(plan->layers[i].path);
		free(plan->layers[i].digest);
	}
	free(plan->layers);
	json_decref(plan->config);
	free(plan->config_raw);
	registry_free(plan->registry);
	if (plan->tmpdir)
		rm_rf(plan->tmpdir);
	free(plan->tmpdir);
	memset(plan, 0, sizeof(*plan));
}
