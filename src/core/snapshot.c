/* Snapshots as a whole: what the core owns (the directory, hearth.json,
 * restoring into a new guest under the state lock with the snapshot's
 * address); the backend writes and loads the VM itself. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core.h"
#include "lib/json.h"
#include "hearth/agent_proto.h"
#include "lib/state.h"

/* 2: the hearth and backend facts a restore checks (format 1 had none). */
#define SNAPSHOT_FORMAT 2

/* Removes DIR and the files hearth put in it (one level, plus volumes/). */
void snapshot_dir_remove(const char *dir)
{
	static const char *const sub[] = { "volumes", "" };
	for (size_t i = 0; i < ARRAY_SIZE(sub); i++) {
		_cleanup_free_ char *path = *sub[i] ? xasprintf("%s/%s", dir, sub[i]) : xstrdup(dir);
		DIR *d = opendir(path);
		if (!d)
			continue;
		struct dirent *e;
		while ((e = readdir(d)))
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, "volumes"))
				unlinkat(dirfd(d), e->d_name, 0);
		closedir(d);
		rmdir(path);
	}
}

static json_t *snapshot_manifest(const struct guest *g)
{
	_cleanup_free_ char *cfg = hearth_config_to_json(g->cfg, 0);
	json_t *o = json_pack("{s:i, s:s, s:s, s:o}", "format", SNAPSHOT_FORMAT, "name", g->name, "backend",
			      g->rec->backend, "config", json_loads(cfg, 0, NULL));
	json_object_set_new(o, "network", json_string_or_null(g->rec->network));
	json_object_set_new(o, "net_slot", g->rec->net_slot >= 0 ? json_integer(g->rec->net_slot) : json_null());
	json_object_set_new(o, "tap", json_string_or_null(g->rec->tap));
	json_object_set_new(o, "guest_ip", json_string_or_null(g->rec->guest_ip));
	json_object_set_new(o, "taken_at", json_integer(now_unix()));
	json_object_set_new(o, "ready", json_boolean(g->rec->status != HEARTH_STATUS_STARTING));
	json_object_set_new(o, "workload_held", json_boolean(g->rec->held));
	json_object_set_new(o, "hearth_version", json_string(HEARTH_VERSION));
	json_object_set_new(o, "agent_protocol", json_integer(AP_VERSION));
	json_object_set_new(o, "backend_facts", g->snapshot_facts ? json_incref(g->snapshot_facts) : json_object());
	return o;
}

int hearth_guest_snapshot(struct hearth_ctx *ctx, const char *name, const char *dir, struct hearth_error **err)
{
	if (!dir || dir[0] != '/')
		return fail_invalid(err, "snapshot: directory must be an absolute path (%s)", dir ? dir : "");
	struct guest g;
	const struct hearth_backend_ops *ops;
	if (guest_open(ctx, name, &g, &ops, err) < 0)
		return -1;
	int rc = -1;
	enum hearth_status st = g.rec->status;
	if (!ops->snapshot_create) {
		fail_invalid(err, "%s: snapshots are not supported by the %s backend", name, ops->name);
		goto out;
	}
	/* A guest still booting can be taken too: its restore boots on. */
	if (st != HEARTH_STATUS_RUNNING && st != HEARTH_STATUS_PAUSED && st != HEARTH_STATUS_STARTING) {
		fail_conflict(err, "%s: guest is %s, not running", name, hearth_status_name(st));
		goto out;
	}
	if (mkdir(dir, 0700) < 0) {
		fail_errno(err, "snapshot: %s: %s", dir, strerror(errno));
		goto out;
	}
	rc = ops->snapshot_create(&g, dir, err);
	if (rc == 0) {
		json_t *m = snapshot_manifest(&g);
		char *text = json_dumps(m, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		json_decref(m);
		_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0 || write_file_atomic_at(dfd, "hearth.json", text, strlen(text), 0600) < 0)
			rc = fail_errno(err, "snapshot: %s/hearth.json: %s", dir, strerror(errno));
		free(text);
	}
	if (rc < 0)
		snapshot_dir_remove(dir);
out:
	guest_release(&g);
	return rc;
}

/* A snapshot is state that hearth acts on as root: the directory must be
 * as private as the state root (the caller's, closed to others), or
 * anyone who could write into it could choose what a restore runs. */
static int snapshot_dir_trusted(const char *dir, struct hearth_error **err)
{
	struct stat st;
	if (stat(dir, &st) < 0)
		return hearth_fail(err, HEARTH_ERR_INVALID, errno, "snapshot: %s (%s)", strerror(errno), dir);
	if (st.st_uid != geteuid() || (st.st_mode & 022))
		return fail_invalid(err,
				    "snapshot: %s is not yours alone (uid %u, mode %04o); hearth restores only "
				    "its own snapshots",
				    dir, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
	return 0;
}

/* A restore runs nothing the snapshot names and reads no host file it
 * names: the guest's config and secrets are the snapshot's own drive
 * copies, so its file lists are dropped rather than read again (a
 * tampered hearth.json could name any file), and a runner is refused. */
static int snapshot_config_plain(struct hearth_config *cfg, const char *path, struct hearth_error **err)
{
	if (cfg->runner_dir)
		return fail_invalid(err, "snapshot: %s: names a runner (%s); hearth never writes one", path,
				    cfg->runner_dir);
	struct hearth_config *empty = hearth_config_new();
	SWAP(cfg->config_files, empty->config_files);
	SWAP(cfg->n_config_files, empty->n_config_files);
	SWAP(cfg->secret_files, empty->secret_files);
	SWAP(cfg->n_secret_files, empty->n_secret_files);
	hearth_config_free(empty);
	return 0;
}

int snapshot_load(const char *dir, struct snapshot *ret, struct hearth_error **err)
{
	memset(ret, 0, sizeof(*ret));
	_cleanup_free_ char *path = xasprintf("%s/hearth.json", dir);
	if (snapshot_dir_trusted(dir, err) < 0)
		return -1;
	json_error_t jerr;
	json_t *m = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (!m)
		return fail_invalid(err, "snapshot: %s: %s", path, jerr.text);
	json_t *format = json_object_get(m, "format"), *backend = json_object_get(m, "backend");
	json_t *version = json_object_get(m, "hearth_version");
	if (!json_is_integer(format) || !json_is_string(backend)) {
		fail_invalid(err, "snapshot: %s: not a hearth snapshot", path);
		goto fail;
	}
	if (json_integer_value(format) != SNAPSHOT_FORMAT || !json_is_string(version)) {
		fail_invalid(err, "snapshot: %s: format %lld, taken by another hearth; this one reads format %d", path,
			     (long long)json_integer_value(format), SNAPSHOT_FORMAT);
		goto fail;
	}
	/* The guest side (hearth-init, its agent) is part of the snapshot's
	 * memory: another hearth may not speak to it as this one does. */
	if (strcmp(json_string_value(version), HEARTH_VERSION) != 0 ||
	    json_integer_value(json_object_get(m, "agent_protocol")) != AP_VERSION) {
		fail_invalid(err, "snapshot: %s: taken by hearth %s; this is hearth %s", path, json_string_value(version),
			     HEARTH_VERSION);
		goto fail;
	}
	ret->ops = backend_find(json_string_value(backend));
	if (!ret->ops || !ret->ops->snapshot_restore) {
		fail_invalid(err, "snapshot: the %s backend cannot restore snapshots", json_string_value(backend));
		goto fail;
	}
	char *text = json_dumps(json_object_get(m, "config"), 0);
	ret->cfg = text ? hearth_config_from_json(text, err) : NULL;
	free(text);
	if (!ret->cfg || snapshot_config_plain(ret->cfg, path, err) < 0)
		goto fail;
	/* The new guest's disk is the snapshot's copy, not the image it once
	 * booted from; a snapshot with an overlay instead (qemu) keeps the
	 * image under it, which its backend checks is unchanged. */
	char *disk = xasprintf("%s/rootfs.img", dir);
	if (access(disk, F_OK) == 0)
		SWAP(ret->cfg->rootfs_path, disk);
	free(disk);
	ret->manifest = m;
	return 0;
fail:
	json_decref(m);
	snapshot_release(ret);
	return -1;
}

void snapshot_release(struct snapshot *s)
{
	hearth_config_free(s->cfg);
	json_decref(s->manifest);
	memset(s, 0, sizeof(*s));
}

int snapshot_run(struct hearth_ctx *ctx, const char *dir, struct snapshot *s, const struct hearth_run_options *opts,
		 struct guest_start *how, char **ret_name, struct hearth_error **err)
{
	json_t *m = s->manifest, *network = json_object_get(m, "network");
	struct hearth_run_options o = *opts;
	o.backend = s->ops->name;
	o.network = json_is_string(network) ? json_string_value(network) : NULL;
	how->snapshot = dir;
	how->facts = json_object_get(m, "backend_facts");
	how->snapshot_ready = !json_is_false(json_object_get(m, "ready"));
	how->workload_ran = how->snapshot_ready && !json_is_true(json_object_get(m, "workload_held"));
	return guest_run_internal(ctx, s->cfg, &o, how, ret_name, err);
}

int hearth_snapshot_restore(struct hearth_ctx *ctx, const char *dir, const char *name,
			    const struct hearth_run_options *opts, char **ret_name, struct hearth_error **err)
{
	struct snapshot s;
	if (snapshot_load(dir, &s, err) < 0)
		return -1;
	free(s.cfg->name);
	s.cfg->name = name ? xstrdup(name) : NULL;
	/* The same guest again: its address, its slot on the bridge. */
	json_t *slot = json_object_get(s.manifest, "net_slot");
	struct guest_start how = { .want_slot = json_is_integer(slot) ? (int)json_integer_value(slot) : -1,
				   .origin = dir };
	struct hearth_run_options o = *opts;
	o.wait = false;
	int rc = snapshot_run(ctx, dir, &s, &o, &how, ret_name, err);
	snapshot_release(&s);
	return rc;
}
