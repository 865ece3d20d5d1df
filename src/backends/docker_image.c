/* Images for the Docker backend: the rootfs imported once per content,
 * all or nothing, or an image archive beside it loaded. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "docker.h"
#include "rootfs_tag.h"
#include "lib/ext4tar.h"
#include "lib/http.h"
#include "lib/state.h"

/* The label an imported image carries: the content it was made from.
 * A tag whose image lacks it, or names other content, is not used. */
#define CONTENT_LABEL "hearth.content"

/* Streams BODY_FD to the Engine's import and reads its JSON progress
 * stream: an "error" fails; the last "status" naming "sha256:" is the new
 * image's ID (*RET_ID). FAILED, set by the producer, aborts the upload
 * at its end instead of ending it (see http_request). */
static int engine_import(struct hearth_ctx *ctx, const char *path, int body_fd, const atomic_bool *failed,
			 char **ret_id, struct hearth_error **err)
{
	struct http_request req = {
		.method = "POST", .upload_fd = body_fd, .content_type = "application/x-tar", .upload_failed = failed
	};
	struct http_response resp = { 0 };
	*ret_id = NULL;
	if (engine_send(ctx, &req, path, &resp, err) < 0)
		return -1;
	int rc = 0;
	char msg[512];
	if (resp.status != 200)
		rc = fail_runtime(err, "docker: import: %s", http_error_message(&resp, msg, sizeof(msg)));
	for (size_t off = 0; rc == 0 && off < resp.len;) {
		json_error_t je;
		json_t *o = json_loadb(resp.body + off, resp.len - off, JSON_DISABLE_EOF_CHECK, &je);
		if (!o)
			break;
		off += je.position;
		const char *error = json_string_value(json_object_get(o, "error"));
		const char *status = json_string_value(json_object_get(o, "status"));
		if (error)
			rc = fail_runtime(err, "docker: import: %.300s", error);
		else if (status && str_has_prefix(status, "sha256:")) {
			free(*ret_id);
			*ret_id = xstrdup(status);
		}
		json_decref(o);
	}
	if (rc == 0 && !*ret_id)
		rc = fail_runtime(err, "docker: import: the Engine named no image");
	http_response_release(&resp);
	if (rc < 0) {
		free(*ret_id);
		*ret_id = NULL;
	}
	return rc;
}

struct tar_producer {
	const struct hearth_ctx *ctx;
	const char *rootfs;
	int fd;
	atomic_bool failed;
	struct hearth_error *err;
};

static void *produce_tar(void *arg)
{
	struct tar_producer *p = arg;
	/* If the Engine stops reading, write() fails with EPIPE here
	 * instead of a SIGPIPE ending the whole process. */
	sigset_t pipe_only;
	sigemptyset(&pipe_only);
	sigaddset(&pipe_only, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_only, NULL);
	if (ext4_to_tar(p->ctx, p->rootfs, p->fd, &p->err) < 0)
		atomic_store(&p->failed, true); /* before the close: the upload aborts */
	close(p->fd);
	return NULL;
}

/* Imports the ext4 rootfs as an untagged image labelled with CONTENT: a
 * thread walks it with libext2fs and writes tar into a pipe that curl
 * streams to the Engine. All or nothing: a stream that could not be
 * made whole is aborted, and an image the Engine made anyway is removed. */
static int import_rootfs(struct hearth_ctx *ctx, const char *rootfs, const char *content, char **ret_id,
			 struct hearth_error **err)
{
	int p[2];
	if (pipe_cloexec(p) < 0)
		return fail_errno(err, "docker: pipe: %s", strerror(errno));
	struct tar_producer prod = { .ctx = ctx, .rootfs = rootfs, .fd = p[1] };
	atomic_init(&prod.failed, false);
	pthread_t thread;
	int e = pthread_create(&thread, NULL, produce_tar, &prod);
	if (e) {
		close(p[0]);
		close(p[1]);
		return hearth_fail(err, HEARTH_ERR_RUNTIME, e, "docker: thread: %s", strerror(e));
	}
	_cleanup_free_ char *path =
		xasprintf("/images/create?fromSrc=-&changes=LABEL%%20" CONTENT_LABEL "%%3D%s", content);
	struct hearth_error *upload = NULL;
	int rc = engine_import(ctx, path, p[0], &prod.failed, ret_id, &upload);
	/* Until the pipe closes the producer cannot fail by the upload's
	 * end: failed by now, its error is the cause, else the Engine's. */
	bool producer_first = atomic_load(&prod.failed);
	close(p[0]); /* a producer still writing gets EPIPE and ends */
	pthread_join(thread, NULL);
	if (prod.err && rc < 0 && !producer_first) {
		hearth_error_free(prod.err);
		hearth_error_pass(err, upload);
		return -1;
	}
	if (prod.err) {
		if (*ret_id) {
			_cleanup_free_ char *del = xasprintf("/images/%s", *ret_id);
			IGNORE_FAILURE(engine(ctx, "DELETE", del, NULL, NULL, NULL, NULL));
			free(*ret_id);
			*ret_id = NULL;
		}
		hearth_error_free(upload);
		hearth_error_pass(err, prod.err);
		return -1;
	}
	hearth_error_pass(err, upload);
	return rc;
}

int docker_load_archive(struct hearth_ctx *ctx, const char *archive, const char *repo, const char *tag,
			struct hearth_error **err)
{
	_cleanup_close_ int fd = open(archive, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail_errno(err, "docker: open %s: %s", archive, strerror(errno));
	struct http_request req = { .method = "POST", .upload_fd = fd, .content_type = "application/x-tar" };
	struct http_response resp = { 0 };
	if (engine_send(ctx, &req, "/images/load?quiet=1", &resp, err) < 0)
		return -1;
	/* {"stream":"Loaded image: NAME\n"} or "Loaded image ID: sha256:..." */
	char loaded[256] = "";
	const char *m = resp.body ? strstr(resp.body, "Loaded image") : NULL;
	if (m && (m = strchr(m, ':'))) {
		snprintf(loaded, sizeof(loaded), "%s", m + 2);
		loaded[strcspn(loaded, "\\\"\n")] = '\0';
	}
	char msg[512];
	int rc = 0;
	if (resp.status != 200 || !loaded[0])
		rc = fail_runtime(err, "docker: load %s: %s", archive, http_error_message(&resp, msg, sizeof(msg)));
	http_response_release(&resp);
	if (rc < 0)
		return -1;
	_cleanup_free_ char *path = xasprintf("/images/%s/tag?repo=%s&tag=%s", loaded, repo, tag);
	return engine(ctx, "POST", path, NULL, NULL, NULL, err);
}

/* The content label of image REF, or NULL (no such image: *RET_STATUS 404). */
static char *image_content(struct hearth_ctx *ctx, const char *ref, long *ret_status, struct hearth_error **err)
{
	_cleanup_free_ char *inspect = xasprintf("/images/%s/json", ref);
	json_t *o = NULL;
	if (engine(ctx, "GET", inspect, NULL, &o, ret_status, err) < 0)
		return NULL;
	json_t *labels = json_object_get(json_object_get(o, "Config"), "Labels");
	const char *v = json_string_value(json_object_get(labels, CONTENT_LABEL));
	char *ret = xstrdup(v ? v : "");
	json_decref(o);
	return ret;
}

/* The image for G's rootfs, imported or loaded once per content. An
 * imported one is used only while its label names the same content (an
 * import cut short by an older hearth was tagged with none). */
char *docker_ensure_image(struct guest *g, struct hearth_error **err)
{
	struct hearth_ctx *ctx = g->ctx;
	const struct hearth_config *cfg = g->cfg;
	char tag[64];
	if (cfg->revision_hash && *cfg->revision_hash)
		snprintf(tag, sizeof(tag), "%s", cfg->revision_hash);
	else if (rootfs_content_hash(ctx, cfg->rootfs_path, tag, sizeof(tag), err) < 0)
		return NULL;
	_cleanup_free_ char *repo = rootfs_image_repo(cfg->rootfs_path, "hearth/");
	_cleanup_free_ char *dir =
		xstrndup(cfg->rootfs_path, (size_t)(strrchr(cfg->rootfs_path, '/') - cfg->rootfs_path));
	_cleanup_free_ char *gz = xasprintf("%s/image.tar.gz", dir);
	_cleanup_free_ char *tar = xasprintf("%s/image.tar", dir);
	const char *archive = access(gz, R_OK) == 0 ? gz : access(tar, R_OK) == 0 ? tar : NULL;
	char *ref = xasprintf("%s:%s", repo, tag);
	long status = 0;
	struct hearth_error *e = NULL;
	_cleanup_free_ char *content = image_content(ctx, ref, &status, &e);
	if (content && (archive || strcmp(content, tag) == 0))
		return ref; /* unchanged: not imported twice */
	if (!content && status != 404) {
		free(ref);
		*err = e;
		return NULL;
	}
	hearth_error_free(e);
	if (content) {
		/* A tag on other content: untag it (the image goes too, unless
		 * a container still uses it). */
		_cleanup_free_ char *del = xasprintf("/images/%s", ref);
		IGNORE_FAILURE(engine(ctx, "DELETE", del, NULL, NULL, NULL, NULL));
	}
	int rc;
	if (archive) {
		rc = docker_load_archive(ctx, archive, repo, tag, err);
	} else {
		_cleanup_free_ char *id = NULL;
		rc = import_rootfs(ctx, cfg->rootfs_path, tag, &id, err);
		if (rc == 0) {
			_cleanup_free_ char *path = xasprintf("/images/%s/tag?repo=%s&tag=%s", id, repo, tag);
			rc = engine(ctx, "POST", path, NULL, NULL, NULL, err);
		}
	}
	if (rc < 0) {
		free(ref);
		return NULL;
	}
	return ref;
}
