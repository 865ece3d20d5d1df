/* Guests from OCI images: the store entry behind a configuration's
 * image, the workload its config names, and the store's public face
 * (pull, list, remove, prune). */
#include <fcntl.h>
#include <string.h>

#include "core.h"
#include "image/store.h"
#include "image/workload.h"
#include "lib/state.h"

/* The digest each guest's configuration runs, NULL for a guest of no
 * image; N of them. */
static char **guest_digests(struct hearth_ctx *ctx, size_t *ret_n, struct hearth_error **err)
{
	_cleanup_close_ int rootfd = state_root_open(ctx, err);
	char **names = NULL;
	size_t n = 0;
	if (rootfd < 0 || state_list_names(rootfd, &names, &n, err) < 0)
		return NULL;
	char **digests = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		_cleanup_close_ int vmfd = state_vm_open(rootfd, names[i], NULL);
		struct hearth_config *cfg = NULL;
		if (vmfd >= 0 && guest_config_read(vmfd, &cfg, NULL) == 0 && cfg->image_digest)
			digests[i] = xstrdup(cfg->image_digest);
		hearth_config_free(cfg);
	}
	names_free(names, n);
	*ret_n = n;
	return digests;
}

static size_t users_of(char **digests, size_t n, const char *digest)
{
	size_t users = 0;
	for (size_t i = 0; i < n; i++)
		users += digests[i] && strcmp(digests[i], digest) == 0;
	return users;
}

static void digests_free(char **d, size_t n)
{
	for (size_t i = 0; d && i < n; i++)
		free(d[i]);
	free(d);
}

int image_prepare(struct hearth_ctx *ctx, struct hearth_config *cfg, struct hearth_error **err)
{
	struct image_entry e;
	if (image_store_ensure(ctx, cfg->image, cfg->image_digest, &e, err) < 0)
		return -1;
	const char *digest = json_string_value(json_object_get(e.meta, "digest"));
	int rc = 0;
	{
		free(cfg->image_digest);
		cfg->image_digest = xstrdup(digest);
		free(cfg->rootfs_path);
		cfg->rootfs_path = xasprintf("%s/rootfs.ext4", e.dir);
	}
	image_entry_release(&e);
	return rc;
}

char *image_workload_json(struct hearth_ctx *ctx, const struct hearth_config *cfg, struct hearth_error **err)
{
	struct image_entry e;
	if (image_store_find(ctx, cfg->image_digest, &e, err) < 0)
		return NULL;
	char *out = image_workload(json_object_get(e.meta, "config"), cfg, err);
	image_entry_release(&e);
	return out;
}

int hearth_image_pull(struct hearth_ctx *ctx, const char *ref, char **ret_digest, struct hearth_error **err)
{
	struct image_entry e;
	if (image_store_ensure(ctx, ref, NULL, &e, err) < 0)
		return -1;
	*ret_digest = xstrdup(json_string_value(json_object_get(e.meta, "digest")));
	image_entry_release(&e);
	return 0;
}

int hearth_image_list(struct hearth_ctx *ctx, struct hearth_image **ret, size_t *ret_n, struct hearth_error **err)
{
	struct image_entry *all;
	size_t n, ng = 0;
	if (image_store_list(ctx, &all, &n, err) < 0)
		return -1;
	char **digests = guest_digests(ctx, &ng, NULL);
	struct hearth_image *out = xcalloc(n + 1, sizeof(*out));
	for (size_t i = 0; i < n; i++) {
		json_t *m = all[i].meta, *r;
		size_t k;
		out[i].digest = xstrdup(json_string_value(json_object_get(m, "digest")));
		out[i].refs = xcalloc(json_array_size(json_object_get(m, "refs")) + 1, sizeof(char *));
		json_array_foreach(json_object_get(m, "refs"), k, r) out[i].refs[k] = xstrdup(json_string_value(r));
		out[i].size = (uint64_t)json_integer_value(json_object_get(m, "size"));
		out[i].created = json_integer_value(json_object_get(m, "created"));
		out[i].rootfs = xasprintf("%s/rootfs.ext4", all[i].dir);
		out[i].users = users_of(digests, ng, out[i].digest);
		json_t *ports = json_object_get(json_object_get(m, "config"), "ExposedPorts");
		const char *port;
		json_t *unused;
		size_t np = 0;
		out[i].exposed = xcalloc(json_object_size(ports) + 1, sizeof(char *));
		json_object_foreach(ports, port, unused) out[i].exposed[np++] = xstrdup(port);
		image_entry_release(&all[i]);
	}
	free(all);
	digests_free(digests, ng);
	*ret = out;
	*ret_n = n;
	return 0;
}

void hearth_images_free(struct hearth_image *images, size_t n)
{
	for (size_t i = 0; images && i < n; i++) {
		free(images[i].digest);
		for (char **r = images[i].refs; r && *r; r++)
			free(*r);
		free(images[i].refs);
		free(images[i].rootfs);
		for (char **p = images[i].exposed; p && *p; p++)
			free(*p);
		free(images[i].exposed);
	}
	free(images);
}

int hearth_image_remove(struct hearth_ctx *ctx, const char *key, struct hearth_error **err)
{
	struct image_entry e;
	if (image_store_find(ctx, key, &e, err) < 0)
		return -1;
	size_t ng = 0;
	char **digests = guest_digests(ctx, &ng, NULL);
	const char *digest = json_string_value(json_object_get(e.meta, "digest"));
	size_t users = users_of(digests, ng, digest);
	digests_free(digests, ng);
	int rc = users ? fail_conflict(err, "image: %s is used by %zu guest(s) (hearth rm them first)", key, users)
		       : image_store_remove(ctx, &e, err);
	image_entry_release(&e);
	return rc;
}

int hearth_image_prune(struct hearth_ctx *ctx, size_t *ret_n, struct hearth_error **err)
{
	struct image_entry *all;
	size_t n, ng = 0, removed = 0;
	if (image_store_list(ctx, &all, &n, err) < 0)
		return -1;
	char **digests = guest_digests(ctx, &ng, NULL);
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		const char *digest = json_string_value(json_object_get(all[i].meta, "digest"));
		if (rc == 0 && users_of(digests, ng, digest) == 0) {
			rc = image_store_remove(ctx, &all[i], err);
			removed += rc == 0;
		}
		image_entry_release(&all[i]);
	}
	free(all);
	digests_free(digests, ng);
	*ret_n = removed;
	return rc;
}
