/* A guest's record as it truly is: reconciled with the processes that
 * run (a gone monitor, a start cut short) and shown as broken when its
 * state files cannot be read. */
#include <dirent.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>

#include "backends/backend.h"
#include "lib/bridge.h"
#include "core.h"
#include "lib/proc.h"
#include "lib/state.h"

bool guest_status_active(enum hearth_status s)
{
	return s == HEARTH_STATUS_STARTING || s == HEARTH_STATUS_RUNNING || s == HEARTH_STATUS_PAUSED;
}

static void mark_monitor_gone(struct hearth_record *rec, void *arg)
{
	(void)arg;
	if (guest_status_active(rec->status) && !proc_alive(rec->monitor_pid, rec->monitor_start))
		record_set_status(rec, HEARTH_STATUS_FAILED, "monitor process exited unexpectedly");
}

int guest_config_read(int vmfd, struct hearth_config **ret, struct hearth_error **err)
{
	_cleanup_free_ char *text = NULL;
	if (read_file_at(vmfd, "config.json", 16 << 20, &text, NULL) < 0)
		return fail_errno(err, "state: cannot read config.json: %s", strerror(errno));
	*ret = hearth_config_from_json(text, err);
	if (!*ret)
		hearth_error_prefix(err, "state: config.json: ");
	return *ret ? 0 : -1;
}

static void mark_start_cut(struct hearth_record *rec, void *arg)
{
	(void)arg;
	if (rec->status == HEARTH_STATUS_STARTING && rec->creator_pid > 0) {
		record_set_status(rec, HEARTH_STATUS_FAILED,
				  "start interrupted: the command starting it ended before handing it over");
		rec->creator_pid = 0;
	}
}

/* A start whose command died (kill -9, a crash) before it handed the
 * guest over: its VMM, if any ran, is killed (the monitor then records
 * the end), its TAP and staging copies go, and it reads as failed, so
 * that stop, rm and the port it asked for all work again. */
static int repair_cut_start(struct hearth_ctx *ctx, int vmfd, struct hearth_record *rec, struct hearth_error **err)
{
	record_kill_vmm(rec);
	if (rec->monitor_pid <= 0)
		net_tap_remove_slot(state_root_tag(ctx), rec->tap, rec->net_slot);
	DIR *d = fdopendir(dup(vmfd));
	for (struct dirent *e; d && (e = readdir(d));)
		if (str_has_prefix(e->d_name, ".stage-"))
			rm_rf_at(vmfd, e->d_name);
	if (d)
		closedir(d);
	return record_update(vmfd, mark_start_cut, NULL, err);
}

/* A guest whose state files cannot be read is shown, as broken with the
 * reason, rather than hidden; rm removes it. */
static struct hearth_record *record_broken(const char *name, const char *why)
{
	struct hearth_record *rec = xcalloc(1, sizeof(*rec));
	rec->name = xstrdup(name);
	rec->backend = xstrdup("unknown");
	rec->status = HEARTH_STATUS_BROKEN;
	rec->reason = xasprintf("broken state: %s", why);
	rec->exit_code = -1;
	rec->net_slot = -1;
	return rec;
}

/* A directory made moments ago may not have its record yet. */
#define CREATING_GRACE_S 10

/* NAME's record, reconciled with what really runs: a record whose
 * monitor is gone reads as failed, never as running (the monitor of a
 * guest being started may not have written its pid yet); one that cannot
 * be read reads as broken. Fails only for a guest still being created. */
int guest_record(struct hearth_ctx *ctx, int vmfd, const char *name, struct hearth_record **ret,
		 struct hearth_config **ret_cfg, struct hearth_error **err)
{
	if (ret_cfg)
		*ret_cfg = NULL;
	struct hearth_record *rec = NULL;
	struct hearth_error *bad = NULL;
	if (record_read(vmfd, &rec, &bad) < 0) {
		struct stat st;
		bool young = fstat(vmfd, &st) == 0 && now_unix() - st.st_mtime < CREATING_GRACE_S;
		if (bad->code == ENOENT && young) {
			*err = bad;
			return -1;
		}
		*ret = record_broken(name, bad->message);
		hearth_error_free(bad);
		return 0;
	}
	struct hearth_config *cfg = NULL;
	_cleanup_free_ char *why = NULL;
	if (strcmp(rec->name, name) != 0)
		why = xasprintf("record.json names another guest (%s)", rec->name);
	else if (guest_config_read(vmfd, &cfg, &bad) < 0)
		why = steal(bad->message);
	if (ret_cfg && !why)
		*ret_cfg = steal(cfg);
	hearth_config_free(cfg);
	hearth_error_free(bad);
	if (why) {
		record_free(rec);
		*ret = record_broken(name, why);
		return 0;
	}
	const struct hearth_backend_ops *ops = backend_find(rec->backend);
	if (ops && ops->refresh) {
		/* The backend's daemon knows; the record holds no copy to drift. */
		_cleanup_free_ char *dir = state_vm_path(ctx, rec->name);
		struct guest g = { .ctx = ctx, .name = rec->name, .dir = dir, .dirfd = vmfd, .rec = rec };
		struct hearth_error *e = NULL;
		if (ops->refresh(&g, rec, &e) < 0) {
			record_set_status(rec, HEARTH_STATUS_FAILED, e->message);
			hearth_error_free(e);
		}
		*ret = rec;
		return 0;
	}
	bool cut = rec->status == HEARTH_STATUS_STARTING && rec->creator_pid > 0 &&
		   !proc_alive(rec->creator_pid, rec->creator_start);
	bool gone = guest_status_active(rec->status) && rec->monitor_pid > 0 &&
		    !proc_alive(rec->monitor_pid, rec->monitor_start);
	if (cut || gone) {
		int rc =
			cut ? repair_cut_start(ctx, vmfd, rec, err) : record_update(vmfd, mark_monitor_gone, NULL, err);
		record_free(rec);
		rec = NULL;
		if (rc < 0 || record_read(vmfd, &rec, err) < 0)
			return -1;
	}
	*ret = rec;
	return 0;
}

/* Opens NAME's state directory (the root only for as long as that takes). */
int guest_dir_open(struct hearth_ctx *ctx, const char *name, struct hearth_error **err)
{
	_cleanup_close_ int rootfd = state_root_open(ctx, err);
	if (rootfd < 0)
		return -1;
	return state_vm_open(rootfd, name, err);
}
