#include "store.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "lib/ctx.h"
#include "lib/drive.h"
#include "lib/proc.h"
#include "lib/progress.h"
#include "lib/state.h"
#include "source.h"
#include "unpack.h"

#define IMAGE_JSON "image.json"
#define ROOTFS "rootfs.ext4"
#define MAX_IMAGE_BYTES (64ULL << 30) /* file data of one image */
#define MKE2FS_TIMEOUT_MS (10 * 60 * 1000)

static char *store_path(const struct hearth_ctx *ctx)
{
	return xasprintf("%s/images", ctx_get(ctx, HEARTH_SETTING_STATE_DIR));
}

static int store_ensure(const struct hearth_ctx *ctx, struct hearth_error **err)
{
	_cleanup_close_ int rootfd = state_root_open(ctx, err); /* checks the root is trusted */
	if (rootfd < 0)
		return -1;
	_cleanup_free_ char *store = store_path(ctx);
	_cleanup_free_ char *tmp = xasprintf("%s/.tmp", store);
	if (mkdir_p(tmp, 0700) < 0)
		return fail_errno(err, "image store: mkdir %s: %s", tmp, strerror(errno));
	return 0;
}

static int entry_load(const char *dir, struct image_entry *e, struct hearth_error **err)
{
	_cleanup_free_ char *text = NULL;
	_cleanup_free_ char *path = xasprintf("%s/" IMAGE_JSON, dir);
	if (read_file_at(AT_FDCWD, path, 1 << 20, &text, NULL) < 0)
		return fail_errno(err, "image store: %s: %s", path, strerror(errno));
	e->meta = json_loads(text, 0, NULL);
	if (!json_is_object(e->meta)) {
		json_decref(e->meta);
		e->meta = NULL;
		return fail_runtime(err, "image store: %s: not JSON", path);
	}
	e->dir = xstrdup(dir);
	return 0;
}

void image_entry_release(struct image_entry *e)
{
	free(e->dir);
	json_decref(e->meta);
	e->dir = NULL;
	e->meta = NULL;
}

static int entry_save(const char *dir, json_t *meta, struct hearth_error **err)
{
	_cleanup_free_ char *text = json_dumps(meta, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || write_file_atomic_at(dfd, IMAGE_JSON, text, strlen(text), 0644) < 0)
		return fail_errno(err, "image store: %s/" IMAGE_JSON ": %s", dir, strerror(errno));
	return 0;
}

/* What of the image's config hearth uses: the run config. */
static json_t *run_config(json_t *config)
{
	json_t *c = json_object_get(config, "config");
	json_t *out = json_object();
	static const char *const keys[] = { "Entrypoint", "Cmd",	  "Env",	"WorkingDir",
					    "User",	  "ExposedPorts", "StopSignal", NULL };
	for (size_t i = 0; keys[i]; i++) {
		json_t *v = json_object_get(c, keys[i]);
		if (v && !json_is_null(v))
			json_object_set(out, keys[i], v);
	}
	return out;
}

static uint64_t walk_bytes, walk_inodes;
static int walk_count(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)path, (void)flag, (void)ftw;
	walk_bytes += (uint64_t)st->st_blocks * 512 + 256;
	walk_inodes++;
	return 0;
}

/* The staged tree as an ext4 image: its blocks plus a quarter and 64 MiB
 * of headroom, and inodes for twice its entries. */
static int make_ext4(const char *stage, const char *image, struct hearth_error **err)
{
	walk_bytes = walk_inodes = 0;
	if (nftw(stage, walk_count, 64, FTW_PHYS) < 0)
		return fail_errno(err, "image: measuring %s: %s", stage, strerror(errno));
	uint64_t kib = (walk_bytes + walk_bytes / 4) / 1024 + (64 << 10);
	struct strv argv = { 0 };
	mke2fs_argv(&argv, "hearth-image");
	strv_addf(&argv, "-N%llu", (unsigned long long)(walk_inodes * 2 + 4096));
	strv_add(&argv, xstrdup("-d"));
	strv_add(&argv, xstrdup(stage));
	strv_add(&argv, xstrdup(image));
	strv_addf(&argv, "%lluk", (unsigned long long)kib);
	_cleanup_free_ char *out = NULL;
	int rc = proc_run(argv.v, MKE2FS_TIMEOUT_MS, &out, err);
	strv_free(&argv);
	if (rc > 0) {
		/* Its last line says why ("No space left on device"). */
		size_t len = strlen(out);
		while (len && out[len - 1] == '\n')
			out[--len] = '\0';
		const char *last = strrchr(out, '\n');
		return fail_runtime(err, "image: mke2fs failed (%d): %s", rc, last ? last + 1 : out);
	}
	return rc;
}

static int copy_init(const struct hearth_ctx *ctx, const char *stage, struct hearth_error **err)
{
	_cleanup_free_ char *src = xasprintf("%s/hearth-init", ctx_get(ctx, HEARTH_SETTING_DATA_DIR));
	_cleanup_free_ char *dir = xasprintf("%s/.hearth", stage);
	_cleanup_free_ char *dst = xasprintf("%s" IMAGE_INIT_PATH, stage);
	_cleanup_free_ char *data = NULL;
	size_t len;
	rm_rf(dir); /* reserved for hearth: whatever the image put there goes */
	/* Where hearth-init mounts what the contract promises, when the image
	 * has no such directory (an image from scratch often has none). Made
	 * a component at a time, never through a link: an image's own
	 * `mnt -> /` is the image's business inside the guest, and must not
	 * lead this mkdir onto the host. */
	static const char *const points[][2] = { { "proc", NULL },    { "sys", NULL }, { "dev", NULL },
						 { "tmp", NULL },     { "run", NULL }, { "mnt", "config" },
						 { "mnt", "secrets" } };
	_cleanup_close_ int sfd = open(stage, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sfd < 0)
		return fail_errno(err, "image: %s: %s", stage, strerror(errno));
	for (size_t i = 0; i < ARRAY_SIZE(points); i++) {
		mode_t mode = strcmp(points[i][0], "tmp") == 0 ? 01777 : 0755;
		struct stat st;
		if (fstatat(sfd, points[i][0], &st, AT_SYMLINK_NOFOLLOW) < 0 && mkdirat(sfd, points[i][0], mode) < 0)
			return fail_errno(err, "image: mkdir /%s: %s", points[i][0], strerror(errno));
		if (!points[i][1])
			continue;
		_cleanup_close_ int up = openat(sfd, points[i][0], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (up >= 0 && fstatat(up, points[i][1], &st, AT_SYMLINK_NOFOLLOW) < 0 &&
		    mkdirat(up, points[i][1], mode) < 0)
			return fail_errno(err, "image: mkdir /%s/%s: %s", points[i][0], points[i][1], strerror(errno));
	}
	if (read_file_at(AT_FDCWD, src, 64 << 20, &data, &len) < 0)
		return fail_errno(err, "image: hearth-init %s: %s (build it: make)", src, strerror(errno));
	_cleanup_close_ int fd = -1;
	if (mkdir(dir, 0755) < 0 || (fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755)) < 0 ||
	    write_all(fd, data, len) < 0 || fchmod(fd, 0755) < 0)
		return fail_errno(err, "image: %s: %s", dst, strerror(errno));
	return 0;
}

static int apply_layers(const struct hearth_ctx *ctx, const struct image_plan *plan, const char *stage, const char *ref,
			struct hearth_error **err)
{
	_cleanup_close_ int rootfd = open(stage, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct unpack u = { .rootfd = rootfd, .owners = geteuid() == 0, .max_bytes = MAX_IMAGE_BYTES };
	for (size_t i = 0; i < plan->n_layers; i++) {
		_cleanup_free_ char *what = xasprintf("image: %s: layer %zu (%.19s)", ref, i, plan->layers[i].digest);
		_cleanup_close_ int fd = open(plan->layers[i].path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return fail_invalid(err, "%s: %s", what, strerror(errno));
		struct stat st;
		struct progress p;
		progress_begin(&p, ctx, what + 7, fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0);
		int rc = digest_check_fd(fd, plan->layers[i].digest, what, err);
		if (rc == 0)
			rc = unpack_layer(&u, fd, what, err);
		progress_add(&p, (uint64_t)st.st_size);
		progress_end(&p);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* Builds entry HEX from PLAN in .tmp, then renames it into place. */
static int build_entry(const struct hearth_ctx *ctx, const char *store, const char *hex, const struct image_plan *plan,
		       const char *ref, struct hearth_error **err)
{
	_cleanup_free_ char *work = xasprintf("%s/.tmp/build-%s-XXXXXX", store, hex);
	if (!mkdtemp(work))
		return fail_errno(err, "image: mkdtemp %s: %s", work, strerror(errno));
	_cleanup_free_ char *stage = xasprintf("%s/root", work);
	_cleanup_free_ char *image = xasprintf("%s/" ROOTFS, work);
	_cleanup_free_ char *final = xasprintf("%s/%s", store, hex);
	int rc = mkdir(stage, 0755) < 0 ? fail_errno(err, "image: mkdir %s: %s", stage, strerror(errno)) : 0;
	if (rc == 0)
		rc = apply_layers(ctx, plan, stage, ref, err);
	if (rc == 0)
		rc = copy_init(ctx, stage, err);
	if (rc == 0)
		rc = make_ext4(stage, image, err);
	rm_rf(stage);
	struct stat st;
	if (rc == 0 && stat(image, &st) == 0) {
		json_t *meta = json_pack("{s:s, s:[], s:o, s:I, s:I}", "digest", plan->digest, "refs", "config",
					 run_config(plan->config), "size", (json_int_t)st.st_size, "created",
					 (json_int_t)now_unix());
		rc = entry_save(work, meta, err);
		json_decref(meta);
		if (rc == 0 && rename(work, final) < 0)
			rc = fail_errno(err, "image: rename %s: %s", final, strerror(errno));
	}
	if (rc < 0)
		rm_rf(work);
	return rc;
}

/* An exclusive lock on PATH that its holder removes when done: after
 * the lock is taken, the file must still be the one at PATH (else the
 * last holder removed it, and the lock is taken again on a new one). */
static int lock_take(const char *path, struct hearth_error **err)
{
	for (;;) {
		int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0 || flock(fd, LOCK_EX) < 0) {
			int e = errno;
			if (fd >= 0)
				close(fd);
			return hearth_fail(err, HEARTH_ERR_RUNTIME, e, "image store: lock %s: %s", path, strerror(e));
		}
		struct stat held, now;
		if (fstat(fd, &held) == 0 && stat(path, &now) == 0 && held.st_ino == now.st_ino &&
		    held.st_dev == now.st_dev)
			return fd;
		close(fd);
	}
}

static void lock_drop(const char *path, int fd)
{
	unlink(path);
	close(fd);
}

/* REF names this entry now, and no other: a tag that moved to another
 * image leaves the old one (as Docker's tags do). */
static void add_ref(struct hearth_ctx *ctx, const char *dir, json_t *meta, const char *ref)
{
	json_t *refs = json_object_get(meta, "refs");
	json_t *r;
	size_t i;
	json_array_foreach(refs, i, r) if (strcmp(json_string_value(r), ref) == 0) return;
	json_array_append_new(refs, json_string(ref));
	IGNORE_FAILURE(entry_save(dir, meta, NULL));
	struct image_entry *all;
	size_t n;
	if (image_store_list(ctx, &all, &n, NULL) < 0)
		return;
	for (size_t k = 0; k < n; k++) {
		json_t *other = json_object_get(all[k].meta, "refs");
		for (i = json_array_size(other); strcmp(all[k].dir, dir) != 0 && i-- > 0;) {
			if (strcmp(json_string_value(json_array_get(other, i)), ref) != 0)
				continue;
			json_array_remove(other, i);
			IGNORE_FAILURE(entry_save(all[k].dir, all[k].meta, NULL));
		}
		image_entry_release(&all[k]);
	}
	free(all);
}

int image_store_plan(struct hearth_ctx *ctx, const char *ref_text, const char *pin, struct image_plan *plan,
		     struct hearth_error **err)
{
	struct image_ref ref;
	if (image_ref_parse(ref_text, &ref, err) < 0)
		return -1;
	if (pin && !digest_valid(pin)) {
		image_ref_release(&ref);
		return fail_invalid(err, "image_digest: not a sha256 digest (%s)", pin);
	}
	if (pin && ref.transport == IMAGE_DOCKER) {
		free(ref.digest); /* the registry is asked for the exact image */
		ref.digest = xstrdup(pin);
	}
	_cleanup_free_ char *store = store_path(ctx);
	_cleanup_free_ char *tmp = xasprintf("%s/.tmp", store);
	int rc = store_ensure(ctx, err) < 0 ? -1 : image_plan_resolve(ctx, &ref, ref_text, tmp, plan, err);
	image_ref_release(&ref);
	if (rc == 0 && pin && strcmp(plan->digest, pin) != 0) {
		rc = fail_invalid(err, "image_digest: %s now resolves to %s, not %s", ref_text, plan->digest, pin);
		image_plan_release(plan);
	}
	return rc;
}

int image_store_ensure(struct hearth_ctx *ctx, const char *ref_text, const char *pin, struct image_entry *ret,
		       struct hearth_error **err)
{
	if (pin && digest_valid(pin) && image_store_find(ctx, pin, ret, NULL) == 0)
		return 0; /* the exact image, already here */
	struct image_plan plan;
	if (image_store_plan(ctx, ref_text, pin, &plan, err) < 0)
		return -1;
	_cleanup_free_ char *store = store_path(ctx);
	int rc = 0;
	const char *hex = plan.digest + 7;
	_cleanup_free_ char *dir = xasprintf("%s/%s", store, hex);
	_cleanup_free_ char *lock = xasprintf("%s/.tmp/%s.lock", store, hex);
	int lfd = lock_take(lock, err);
	if (lfd < 0)
		rc = -1;
	struct stat st;
	if (rc == 0 && stat(dir, &st) < 0) {
		rc = image_plan_fetch(&plan, err);
		if (rc == 0)
			rc = build_entry(ctx, store, hex, &plan, ref_text, err);
	}
	image_plan_release(&plan);
	if (rc == 0)
		rc = entry_load(dir, ret, err);
	/* A pinned run names the image by its digest: its reference may
	 * name another image by now. */
	if (rc == 0 && !pin)
		add_ref(ctx, dir, ret->meta, ref_text);
	if (lfd >= 0)
		lock_drop(lock, lfd);
	return rc;
}

int image_store_list(struct hearth_ctx *ctx, struct image_entry **ret, size_t *ret_n, struct hearth_error **err)
{
	*ret = NULL;
	*ret_n = 0;
	_cleanup_free_ char *store = store_path(ctx);
	DIR *d = opendir(store);
	if (!d)
		return errno == ENOENT ? 0 : fail_errno(err, "image store: %s: %s", store, strerror(errno));
	struct dirent *de;
	size_t n = 0;
	struct image_entry *all = NULL;
	while ((de = readdir(d))) {
		if (strlen(de->d_name) != 64)
			continue;
		_cleanup_free_ char *dir = xasprintf("%s/%s", store, de->d_name);
		struct image_entry e = { 0 };
		if (entry_load(dir, &e, NULL) < 0)
			continue;
		all = xrealloc(all, (n + 1) * sizeof(*all));
		all[n++] = e;
	}
	closedir(d);
	/* Oldest first. */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && json_integer_value(json_object_get(all[j - 1].meta, "created")) >
						    json_integer_value(json_object_get(all[j].meta, "created"));
		     j--)
			SWAP(all[j - 1], all[j]);
	*ret = all;
	*ret_n = n;
	return 0;
}

int image_store_find(struct hearth_ctx *ctx, const char *key, struct image_entry *ret, struct hearth_error **err)
{
	struct image_entry *all;
	size_t n;
	if (image_store_list(ctx, &all, &n, err) < 0)
		return -1;
	int found = -1;
	for (size_t i = 0; i < n && found < 0; i++) {
		const char *digest = json_string_value(json_object_get(all[i].meta, "digest"));
		if (digest && (strcmp(digest, key) == 0 || (strlen(key) >= 12 && str_has_prefix(digest + 7, key))))
			found = (int)i;
		json_t *r;
		size_t k;
		json_array_foreach(json_object_get(all[i].meta, "refs"), k,
				   r) if (strcmp(json_string_value(r), key) == 0) found = (int)i;
	}
	for (size_t i = 0; i < n; i++)
		if ((int)i == found)
			*ret = all[i];
		else
			image_entry_release(&all[i]);
	free(all);
	if (found < 0)
		return hearth_fail(err, HEARTH_ERR_NOT_FOUND, ENOENT, "image: no such image in the store (%s)", key);
	return 0;
}

int image_store_remove(struct hearth_ctx *ctx, const struct image_entry *e, struct hearth_error **err)
{
	(void)ctx;
	/* Renamed away first, so a reader never sees half an entry. */
	_cleanup_free_ char *gone = xasprintf("%s.removing", e->dir);
	if (rename(e->dir, gone) < 0)
		return fail_errno(err, "image: remove %s: %s", e->dir, strerror(errno));
	rm_rf(gone);
	return 0;
}
