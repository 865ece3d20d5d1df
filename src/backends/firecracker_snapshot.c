/* Full Firecracker snapshots: the VM state and memory from the API, plus
 * copies of the disks the guest wrote (rootfs copy, config, secrets,
 * named volumes), taken while the VM is paused so they agree. A restore
 * loads them into a fresh firecracker; the guest keeps its address, so
 * only the TAP may change (network_overrides). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "firecracker.h"
#include "lib/state.h"
#include "vm.h"
#include "vm_drives.h"

static const char *const disk_files[] = { "rootfs.img", "config.img", "secrets.img" };

/* Moves a file the jailed VMM wrote inside its root out to DST, and
 * takes it back from the jail's user. */
static int move_out(const struct hearth_ctx *ctx, const char *src, const char *dst, struct hearth_error **err)
{
	if (rename(src, dst) < 0) {
		int rc = vm_copy_image(ctx, src, dst, err);
		unlink(src);
		if (rc < 0)
			return -1;
	}
	if (chown(dst, getuid(), getgid()) < 0)
		return fail_errno(err, "snapshot: chown %s: %s", dst, strerror(errno));
	return 0;
}

/* What the snapshot must be restored with: this release, this kernel. */
static int fc_facts(struct guest *g, json_t **ret, struct hearth_error **err)
{
	_cleanup_free_ char *fc = fc_binary_or_fail(g->ctx, err);
	_cleanup_free_ char *kernel = fc ? vm_kernel(g, err) : NULL;
	struct fc_version v;
	if (!kernel || fc_version_of(fc, &v, err) < 0)
		return -1;
	char version[48];
	snprintf(version, sizeof(version), "%u.%u.%u", v.major, v.minor, v.patch);
	*ret = json_pack("{s:s, s:o}", "firecracker_version", version, "kernel", vm_file_identity(kernel));
	return 0;
}

static int fc_facts_check(struct guest *g, struct hearth_error **err)
{
	json_t *now = NULL;
	if (fc_facts(g, &now, err) < 0)
		return -1;
	const char *want = json_string_value(json_object_get(g->snapshot_facts, "firecracker_version"));
	_cleanup_free_ char *have = xstrdup(json_string_value(json_object_get(now, "firecracker_version")));
	json_decref(now);
	if (!want || strcmp(want, have) != 0)
		return fail_invalid(err, "snapshot: taken with firecracker %s; this host has %s", want ? want : "?",
				    have);
	return vm_file_identity_check(json_object_get(g->snapshot_facts, "kernel"), "kernel", err);
}

int fc_snapshot_create(struct guest *g, const char *dir, struct hearth_error **err)
{
	_cleanup_free_ char *sock = fc_api_sock(g);
	_cleanup_free_ char *root = fc_vmm_root(g);
	bool jailed = strcmp(root, g->dir) != 0;
	bool was_running = g->rec->status == HEARTH_STATUS_RUNNING || g->rec->status == HEARTH_STATUS_STARTING;
	if (was_running && fc_vm_state(sock, "Paused", err) < 0)
		return -1;
	int rc = 0;
	for (size_t i = 0; i < ARRAY_SIZE(disk_files) && rc == 0; i++) {
		_cleanup_free_ char *src = xasprintf("%s/%s", i == 0 ? root : g->dir, disk_files[i]);
		_cleanup_free_ char *dst = xasprintf("%s/%s", dir, disk_files[i]);
		rc = vm_copy_image(g->ctx, src, dst, err);
	}
	if (rc == 0)
		rc = vm_copy_volumes(g->ctx, g->dir, dir, err);
	if (rc == 0) {
		/* A jailed VMM can only write inside its root. */
		_cleanup_free_ char *vmstate = jailed ? xstrdup("vmstate") : xasprintf("%s/vmstate", dir);
		_cleanup_free_ char *memory = jailed ? xstrdup("memory") : xasprintf("%s/memory", dir);
		json_t *body = json_pack("{s:s, s:s, s:s}", "snapshot_type", "Full", "snapshot_path", vmstate,
					 "mem_file_path", memory);
		rc = fc_api(sock, "PUT", "/snapshot/create", body, err);
		json_decref(body);
		if (rc == 0 && jailed) {
			_cleanup_free_ char *in_v = xasprintf("%s/vmstate", root),
					    *out_v = xasprintf("%s/vmstate", dir);
			_cleanup_free_ char *in_m = xasprintf("%s/memory", root), *out_m = xasprintf("%s/memory", dir);
			rc = move_out(g->ctx, in_v, out_v, err) < 0 || move_out(g->ctx, in_m, out_m, err) < 0 ? -1 : 0;
		}
	}
	if (rc == 0)
		rc = fc_facts(g, &g->snapshot_facts, err);
	/* The guest runs on whatever happened to the snapshot. */
	struct hearth_error *resume_err = NULL;
	if (was_running && fc_vm_state(sock, "Resumed", &resume_err) < 0) {
		if (rc == 0)
			*err = steal(resume_err);
		hearth_error_free(resume_err);
		return -1;
	}
	return rc;
}

/* From the snapshot's hearth.json: the TAP its guest had. */
static char *snapshot_tap(const char *dir)
{
	_cleanup_free_ char *path = xasprintf("%s/hearth.json", dir);
	json_t *o = json_load_file(path, 0, NULL);
	json_t *tap = json_object_get(o, "tap");
	char *ret = json_is_string(tap) ? xstrdup(json_string_value(tap)) : NULL;
	json_decref(o);
	return ret;
}

int fc_snapshot_restore(struct guest *g, const char *dir, struct hearth_error **err)
{
	_cleanup_free_ char *fc = fc_binary_or_fail(g->ctx, err);
	_cleanup_free_ char *root = NULL, *kernel = NULL;
	struct fc_version v;
	if (!fc || fc_version_of(fc, &v, err) < 0 || fc_facts_check(g, err) < 0 ||
	    fc_check_paths(g, fc, &root, &kernel, err) < 0)
		return -1;
	/* Only when the TAP is not the one the snapshot was taken with
	 * (another state root): the override is newer than some releases,
	 * which then cannot restore here at all. Said before anything runs. */
	_cleanup_free_ char *old_tap = snapshot_tap(dir);
	bool override = g->net && (!old_tap || strcmp(old_tap, g->net->tap) != 0);
	if (override && !fc_version_at_least(&v, FC_NETWORK_OVERRIDES_SINCE))
		return fail_invalid(err,
				    "snapshot: the guest's TAP changes (%s to %s), and firecracker %u.%u.%u cannot "
				    "override it on restore (network_overrides needs 1.12 or newer)",
				    old_tap ? old_tap : "none", g->net->tap, v.major, v.minor, v.patch);
	for (size_t i = 1; i < ARRAY_SIZE(disk_files); i++) {
		_cleanup_free_ char *src = xasprintf("%s/%s", dir, disk_files[i]);
		_cleanup_free_ char *dst = xasprintf("%s/%s", g->dir, disk_files[i]);
		if (vm_copy_image(g->ctx, src, dst, err) < 0)
			return -1;
	}
	_cleanup_free_ char *rootfs = xasprintf("%s/rootfs.img", dir);
	if (vm_copy_volumes(g->ctx, dir, g->dir, err) < 0 || fc_prepare(g, root, err) < 0 ||
	    fc_stage_files(g, root, kernel, rootfs, err) < 0)
		return -1;
	bool jailed = strcmp(root, g->dir) != 0;
	_cleanup_free_ char *vmstate = xasprintf("%s/vmstate", dir), *memory = xasprintf("%s/memory", dir);
	if (jailed) {
		/* Copies inside the jail for its user (reflinks where the
		 * filesystem can): a link would hand the snapshot itself over. */
		_cleanup_free_ char *jv = xasprintf("%s/vmstate", root), *jm = xasprintf("%s/memory", root);
		const struct hearth_run_options *o = g->opts;
		if (vm_copy_image(g->ctx, vmstate, jv, err) < 0 || vm_copy_image(g->ctx, memory, jm, err) < 0)
			return -1;
		if (chown(jv, o->jail_uid, o->jail_gid) < 0 || chown(jm, o->jail_uid, o->jail_gid) < 0)
			return fail_errno(err, "jailer: chown %s: %s", jm, strerror(errno));
		free(vmstate);
		free(memory);
		vmstate = xstrdup("vmstate");
		memory = xstrdup("memory");
	}
	_cleanup_free_ char *sock = NULL;
	if (fc_launch(g, fc, root, &sock, err) < 0)
		return -1;
	json_t *body = json_pack("{s:s, s:{s:s, s:s}, s:b}", "snapshot_path", vmstate, "mem_backend", "backend_type",
				 "File", "backend_path", memory, "resume_vm", 1);
	if (override)
		json_object_set_new(body, "network_overrides",
				    json_pack("[{s:s, s:s}]", "iface_id", FC_IFACE, "host_dev_name", g->net->tap));
	int rc = fc_put_logger(sock, &v, err);
	if (rc == 0)
		rc = fc_api(sock, "PUT", "/snapshot/load", body, err);
	json_decref(body);
	if (rc < 0)
		fc_abort(g);
	return rc;
}
