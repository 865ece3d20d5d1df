/* Templates and clones: snapshots kept under the state root's templates/,
 * run as new guests with identities of their own (include/hearth/template.h).
 * A clone's snapshot is a private template, ".clone-HEX", removed with
 * the clone. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core.h"
#include "hearth/template.h"
#include "lib/state.h"

#define TEMPLATES "templates"
#define CLONE_PREFIX ".clone-"
#define BUILDER_PREFIX "template-"

/* The templates directory, made (0700) when MAKE. */
static char *templates_dir(struct hearth_ctx *ctx, bool make, struct hearth_error **err)
{
	_cleanup_close_ int rootfd = state_root_open(ctx, err);
	if (rootfd < 0)
		return NULL;
	if (make && mkdirat(rootfd, TEMPLATES, 0700) < 0 && errno != EEXIST) {
		fail_errno(err, "template: %s/%s: %s", ctx_get(ctx, HEARTH_SETTING_STATE_DIR), TEMPLATES,
			   strerror(errno));
		return NULL;
	}
	return xasprintf("%s/" TEMPLATES, ctx_get(ctx, HEARTH_SETTING_STATE_DIR));
}

static char *template_path(struct hearth_ctx *ctx, const char *name, struct hearth_error **err)
{
	if (!hearth_name_valid(name)) {
		fail_invalid(err, "template: not a valid name (%s)", name);
		return NULL;
	}
	_cleanup_free_ char *dir = templates_dir(ctx, false, err);
	return dir ? xasprintf("%s/%s", dir, name) : NULL;
}

/* The path of existing template NAME, or NULL (not found: said so). */
static char *template_existing(struct hearth_ctx *ctx, const char *name, struct hearth_error **err)
{
	char *path = template_path(ctx, name, err);
	struct stat st;
	if (path && stat(path, &st) < 0) {
		hearth_fail(err, HEARTH_ERR_NOT_FOUND, errno, "template: no such template (%s)", name);
		free(path);
		return NULL;
	}
	return path;
}

/* How many of the N guests RECS are up with their memory mapping
 * snapshot PATH; *RET_FIRST (when asked for) names the first of them. */
static size_t template_users(struct hearth_record *const *recs, size_t n, const char *path, const char **ret_first)
{
	size_t users = 0;
	for (size_t i = 0; i < n; i++) {
		if (!recs[i]->origin || strcmp(recs[i]->origin, path) != 0 || !guest_status_active(recs[i]->status))
			continue;
		if (ret_first && !users)
			*ret_first = recs[i]->name;
		users++;
	}
	return users;
}

/* Templates and clones need a backend that gives a restored guest an
 * identity of its own: asked before anything is booted or paused. */
static int gives_identity(const char *backend, struct hearth_error **err)
{
	const struct hearth_backend_ops *ops = backend_find(backend);
	if (ops && (ops->caps & HEARTH_CAP_TEMPLATES))
		return 0;
	return fail_invalid(err, "template: the %s backend cannot give a restored guest an identity of its own",
			    backend);
}

/* The same of running guest NAME's backend. */
static int guest_gives_identity(struct hearth_ctx *ctx, const char *name, struct hearth_error **err)
{
	struct hearth_record *rec;
	if (guest_get(ctx, name, &rec, NULL, err) < 0)
		return -1;
	int rc = gives_identity(rec->backend, err);
	record_free(rec);
	return rc;
}

/* Boots CFG with its workload held and snapshots it into DIR once ready. */
static int template_boot(struct hearth_ctx *ctx, const char *name, struct hearth_config *cfg,
			 const struct hearth_run_options *opts, const char *dir, struct hearth_error **err)
{
	free(cfg->name);
	cfg->name = xasprintf(BUILDER_PREFIX "%s", name);
	if (!hearth_name_valid(cfg->name))
		return fail_invalid(err, "template: name too long (%s)", name);
	/* The builder is removed at the end, whatever happens: never a guest
	 * that was there before. */
	struct hearth_record *rec = NULL;
	if (guest_get(ctx, cfg->name, &rec, NULL, NULL) == 0) {
		record_free(rec);
		return fail_conflict(err, "template: a guest named %s exists; the template's builder needs the name",
				     cfg->name);
	}
	struct hearth_run_options o = *opts;
	o.wait = true;
	struct guest_start how = { .want_slot = -1, .hold = true };
	_cleanup_free_ char *got = NULL;
	int rc = guest_run_internal(ctx, cfg, &o, &how, &got, err);
	if (rc == 0)
		rc = hearth_guest_snapshot(ctx, cfg->name, dir, err);
	/* Whatever happened, the builder goes (a start that failed is kept
	 * as a failed guest otherwise). */
	if (guest_get(ctx, cfg->name, &rec, NULL, NULL) == 0) {
		record_free(rec);
		IGNORE_FAILURE(hearth_guest_remove(ctx, cfg->name, true, NULL));
	}
	return rc;
}

int hearth_template_create(struct hearth_ctx *ctx, const char *name, const char *from, struct hearth_config *cfg,
			   const struct hearth_run_options *opts, struct hearth_error **err)
{
	_cleanup_free_ char *path = template_path(ctx, name, err);
	_cleanup_free_ char *dir = path ? templates_dir(ctx, true, err) : NULL;
	if (!dir)
		return -1;
	struct stat st;
	if (lstat(path, &st) == 0)
		return fail_conflict(err, "template: %s exists (hearth template rm %s)", name, name);
	const char *backend;
	if (from ? guest_gives_identity(ctx, from, err) < 0
		 : backend_for(ctx, cfg, opts->backend, &backend, err) < 0 || gives_identity(backend, err) < 0)
		return -1;
	_cleanup_free_ char *tmp = xasprintf("%s/.new-%s-%d", dir, name, (int)getpid());
	int rc = from ? hearth_guest_snapshot(ctx, from, tmp, err) : template_boot(ctx, name, cfg, opts, tmp, err);
	if (rc == 0 && rename(tmp, path) < 0)
		rc = fail_errno(err, "template: %s: %s", path, strerror(errno));
	if (rc < 0)
		snapshot_dir_remove(tmp);
	return rc;
}

/* The new guest's own fields from OVER into S's configuration. */
static void take_own(struct snapshot *s, struct hearth_config *over, bool files)
{
	struct hearth_config *c = s->cfg;
	free(c->name);
	c->name = over->name ? xstrdup(over->name) : NULL;
	SWAP(c->ports, over->ports);
	SWAP(c->n_ports, over->n_ports);
	if (!files)
		return;
	SWAP(c->config_files, over->config_files);
	SWAP(c->n_config_files, over->n_config_files);
	SWAP(c->secret_files, over->secret_files);
	SWAP(c->n_secret_files, over->n_secret_files);
}

static int load_for_identity(const char *path, struct snapshot *s, struct hearth_error **err)
{
	if (snapshot_load(path, s, err) < 0)
		return -1;
	if (gives_identity(s->ops->name, err) < 0) {
		snapshot_release(s);
		return -1;
	}
	return 0;
}

int hearth_template_run(struct hearth_ctx *ctx, const char *name, struct hearth_config *cfg,
			const struct hearth_run_options *opts, char **ret_name, struct hearth_error **err)
{
	_cleanup_free_ char *path = template_existing(ctx, name, err);
	if (!path)
		return -1;
	struct snapshot s;
	if (load_for_identity(path, &s, err) < 0)
		return -1;
	/* With no files on either side the snapshot's empty drives serve as
	 * they are, and the guest has nothing to mount again. */
	json_t *was = json_object_get(s.manifest, "config");
	bool files = cfg->n_config_files || cfg->n_secret_files ||
		     json_array_size(json_object_get(was, "config_files")) ||
		     json_array_size(json_object_get(was, "secret_files"));
	take_own(&s, cfg, true);
	struct guest_start how = { .want_slot = -1, .own_drives = files, .origin = path };
	int rc = snapshot_run(ctx, path, &s, opts, &how, ret_name, err);
	snapshot_release(&s);
	return rc;
}

int hearth_guest_clone(struct hearth_ctx *ctx, const char *from, struct hearth_config *cfg,
		       const struct hearth_run_options *opts, char **ret_name, struct hearth_error **err)
{
	if (cfg->name && !hearth_name_valid(cfg->name))
		return fail_invalid(err, "name: not a valid name (%s)", cfg->name);
	_cleanup_free_ char *dir = templates_dir(ctx, true, err);
	if (!dir || guest_gives_identity(ctx, from, err) < 0)
		return -1;
	unsigned char r[6];
	if (random_bytes(r, sizeof(r)) < 0)
		return fail_errno(err, "clone: random bytes: %s", strerror(errno));
	_cleanup_free_ char *path = xasprintf("%s/" CLONE_PREFIX "%02x%02x%02x%02x%02x%02x", dir, r[0], r[1], r[2], r[3],
					      r[4], r[5]);
	if (hearth_guest_snapshot(ctx, from, path, err) < 0)
		return -1;
	struct snapshot s;
	int rc = load_for_identity(path, &s, err);
	if (rc == 0) {
		take_own(&s, cfg, false);
		struct guest_start how = { .want_slot = -1, .origin = path };
		rc = snapshot_run(ctx, path, &s, opts, &how, ret_name, err);
		snapshot_release(&s);
	}
	if (rc < 0)
		snapshot_dir_remove(path);
	return rc;
}

void template_forget_clone(struct hearth_ctx *ctx, const char *origin)
{
	_cleanup_free_ char *dir = origin ? templates_dir(ctx, false, NULL) : NULL;
	if (!dir || !str_has_prefix(origin, dir) || !str_has_prefix(origin + strlen(dir), "/" CLONE_PREFIX))
		return;
	snapshot_dir_remove(origin);
}

static int du_bytes(const char *dir, uint64_t *ret)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	struct dirent *e;
	*ret = 0;
	while ((e = readdir(d))) {
		struct stat st;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
			*ret += (uint64_t)st.st_blocks * 512;
	}
	closedir(d);
	return 0;
}

int hearth_template_list(struct hearth_ctx *ctx, struct hearth_template **ret, size_t *ret_n,
			 struct hearth_error **err)
{
	*ret = NULL;
	*ret_n = 0;
	_cleanup_free_ char *dir = templates_dir(ctx, false, err);
	if (!dir)
		return -1;
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : fail_errno(err, "template: %s: %s", dir, strerror(errno));
	struct hearth_record **recs;
	size_t n_recs;
	if (guest_list(ctx, &recs, NULL, &n_recs, err) < 0) {
		closedir(d);
		return -1;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue; /* clones' own, and templates being made */
		_cleanup_free_ char *path = xasprintf("%s/%s", dir, e->d_name);
		_cleanup_free_ char *manifest = xasprintf("%s/hearth.json", path);
		json_t *m = json_load_file(manifest, 0, NULL);
		if (!m)
			continue;
		*ret = xrealloc(*ret, (*ret_n + 1) * sizeof(**ret));
		struct hearth_template *t = &(*ret)[(*ret_n)++];
		memset(t, 0, sizeof(*t));
		t->name = xstrdup(e->d_name);
		const char *backend = json_string_value(json_object_get(m, "backend"));
		t->backend = xstrdup(backend ? backend : "?");
		t->memory_mib = (unsigned)json_integer_value(json_object_get(json_object_get(m, "config"), "memory_mib"));
		t->created = json_integer_value(json_object_get(m, "taken_at"));
		json_decref(m);
		IGNORE_FAILURE(du_bytes(path, &t->bytes));
		t->users = template_users(recs, n_recs, path, NULL);
	}
	closedir(d);
	records_free(recs, n_recs);
	return 0;
}

void hearth_templates_free(struct hearth_template *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(t[i].name);
		free(t[i].backend);
	}
	free(t);
}

int hearth_template_remove(struct hearth_ctx *ctx, const char *name, struct hearth_error **err)
{
	_cleanup_free_ char *path = template_existing(ctx, name, err);
	if (!path)
		return -1;
	struct hearth_record **recs;
	size_t n;
	if (guest_list(ctx, &recs, NULL, &n, err) < 0)
		return -1;
	const char *first = NULL;
	size_t users = template_users(recs, n, path, &first);
	int rc = users ? fail_conflict(err, "template: %s: %zu guest%s still run%s from it (%s); stop them first",
				       name, users, users == 1 ? "" : "s", users == 1 ? "s" : "", first)
		       : 0;
	records_free(recs, n);
	if (rc == 0)
		snapshot_dir_remove(path);
	return rc;
}
