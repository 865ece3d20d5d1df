#include "state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "ctx.h"
#include "json.h"

/* Whoever can write to the root can make a root-run hearth delete or
 * overwrite anything (a planted symlink, a foreign lock), so the root is
 * used only when it is the caller's own and closed to everyone else. */
static int root_trusted(int fd, const char *root, struct hearth_error **err)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return fail_errno(err, "state: cannot stat %s: %s", root, strerror(errno));
	if (st.st_uid != geteuid())
		return hearth_fail(err, HEARTH_ERR_RUNTIME, EPERM,
				   "state: %s belongs to uid %u, not to you (uid %u); hearth uses only a state root of "
				   "your own",
				   root, (unsigned)st.st_uid, (unsigned)geteuid());
	if (st.st_mode & 022)
		return hearth_fail(err, HEARTH_ERR_RUNTIME, EPERM,
				   "state: %s is writable by others (mode %04o); run chmod go-w on it", root,
				   (unsigned)(st.st_mode & 07777));
	return 0;
}

static int subdir_ensure(int rootfd, const char *name, const char *root, struct hearth_error **err)
{
	struct stat st;
	if (mkdirat(rootfd, name, 0700) < 0 && errno != EEXIST)
		return fail_errno(err, "state: cannot create %s/%s: %s", root, name, strerror(errno));
	if (fstatat(rootfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return fail_errno(err, "state: cannot stat %s/%s: %s", root, name, strerror(errno));
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022))
		return hearth_fail(err, HEARTH_ERR_RUNTIME, EPERM,
				   "state: %s/%s is not a directory of yours closed to others", root, name);
	return 0;
}

int state_root_open(const struct hearth_ctx *ctx, struct hearth_error **err)
{
	const char *root = ctx_get(ctx, HEARTH_SETTING_STATE_DIR);
	if (mkdir_p(root, 0700) < 0)
		return fail_errno(err, "state: cannot create %s: %s", root, strerror(errno));
	_cleanup_close_ int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return fail_errno(err, "state: cannot open %s: %s", root, strerror(errno));
	if (root_trusted(fd, root, err) < 0 || subdir_ensure(fd, "vms", root, err) < 0 ||
	    subdir_ensure(fd, "cache", root, err) < 0)
		return -1;
	return steal_fd(&fd);
}

int state_cache_open(const struct hearth_ctx *ctx)
{
	_cleanup_close_ int root = state_root_open(ctx, NULL);
	return root < 0 ? -1 : openat(root, "cache", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
}

/* Every holder of a hearth lock holds it for milliseconds (no daemon
 * call happens under one), so a wait this long means a stuck or hostile
 * holder: say so instead of hanging every command behind it. */
#define LOCK_WAIT_MS 10000

static int lock_file(int dirfd, const char *name, struct hearth_error **err)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return fail_errno(err, "state: cannot open lock %s: %s", name, strerror(errno));
	int64_t deadline = now_ms() + LOCK_WAIT_MS;
	long pause_ms = 1;
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK && errno != EINTR)
			return fail_errno(err, "state: lock %s: %s", name, strerror(errno));
		if (now_ms() > deadline)
			return hearth_fail(err, HEARTH_ERR_RUNTIME, EWOULDBLOCK,
					   "state: lock %s is held by another process for over %d s (fuser -v it)",
					   name, LOCK_WAIT_MS / 1000);
		sleep_ms(pause_ms);
		pause_ms = pause_ms < 50 ? pause_ms * 2 : 50;
	}
	return steal_fd(&fd);
}

int state_lock(int rootfd, struct hearth_error **err)
{
	return lock_file(rootfd, "lock", err);
}

/* ".new-NAME-PID": a guest's directory while it is being filled. */
#define NEW_PREFIX ".new-"

/* Directories of creations whose process died half-way (kill -9). */
static void remove_stale_new(int vms)
{
	int fd = dup(vms);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	for (struct dirent *e; (e = readdir(d));) {
		const char *dash = strrchr(e->d_name, '-');
		uint64_t pid;
		if (str_has_prefix(e->d_name, NEW_PREFIX) && dash && parse_u64(dash + 1, 1, INT32_MAX, &pid) == 0 &&
		    kill((pid_t)pid, 0) < 0 && errno == ESRCH)
			rm_rf_at(vms, e->d_name);
	}
	closedir(d);
}

int state_vm_create(int rootfd, const char *name, const char *config_json, const struct hearth_record *rec,
		    struct hearth_error **err)
{
	_cleanup_close_ int vms = openat(rootfd, "vms", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (vms < 0)
		return fail_errno(err, "state: cannot open vms: %s", strerror(errno));
	if (faccessat(vms, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return fail_conflict(err, "name: already in use (%s)", name);
	remove_stale_new(vms);
	/* Filled under a name no guest can have, then renamed: a guest
	 * appears whole or not at all, whenever the command dies. */
	char tmp[96];
	snprintf(tmp, sizeof(tmp), NEW_PREFIX "%s-%d", name, (int)getpid());
	rm_rf_at(vms, tmp);
	if (mkdirat(vms, tmp, 0700) < 0)
		return fail_errno(err, "state: cannot create vms/%s: %s", tmp, strerror(errno));
	_cleanup_close_ int fd = openat(vms, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		fail_errno(err, "state: cannot open vms/%s: %s", tmp, strerror(errno));
		goto fail;
	}
	if (config_json && write_file_atomic_at(fd, "config.json", config_json, strlen(config_json), 0600) < 0) {
		fail_errno(err, "state: cannot write config.json: %s", strerror(errno));
		goto fail;
	}
	if (rec && record_write(fd, rec, err) < 0)
		goto fail;
	if (rename_noreplace(vms, tmp, vms, name) < 0) {
		if (errno == EEXIST)
			fail_conflict(err, "name: already in use (%s)", name);
		else
			fail_errno(err, "state: cannot create vms/%s: %s", name, strerror(errno));
		goto fail;
	}
	return steal_fd(&fd);
fail:
	rm_rf_at(vms, tmp);
	return -1;
}

int state_vm_open(int rootfd, const char *name, struct hearth_error **err)
{
	if (!hearth_name_valid(name))
		return hearth_fail(err, HEARTH_ERR_NOT_FOUND, ENOENT, "no such guest (%s)", name);
	_cleanup_free_ char *rel = xasprintf("vms/%s", name);
	int fd = openat(rootfd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return hearth_fail(err, HEARTH_ERR_NOT_FOUND, ENOENT, "no such guest (%s)", name);
		return fail_errno(err, "state: cannot open %s: %s", rel, strerror(errno));
	}
	return fd;
}

char *state_vm_path(const struct hearth_ctx *ctx, const char *name)
{
	return xasprintf("%s/vms/%s", ctx_get(ctx, HEARTH_SETTING_STATE_DIR), name);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int state_list_names(int rootfd, char ***ret, size_t *ret_n, struct hearth_error **err)
{
	int fd = openat(rootfd, "vms", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return fail_errno(err, "state: cannot open vms: %s", strerror(errno));
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return fail_errno(err, "state: cannot read vms: %s", strerror(errno));
	}
	char **names = NULL;
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!hearth_name_valid(e->d_name))
			continue;
		names = xrealloc(names, (n + 1) * sizeof(*names));
		names[n++] = xstrdup(e->d_name);
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), cmp_names);
	*ret = names;
	*ret_n = n;
	return 0;
}

void names_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int state_vm_remove(int rootfd, const char *name, struct hearth_error **err)
{
	/* By descriptor, never following a link: nothing outside vms/ goes.
	 * Renamed first to a name no guest can have, so that the guest leaves
	 * every listing at once instead of reading as broken while its files
	 * go one by one. */
	_cleanup_close_ int vms = openat(rootfd, "vms", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (vms < 0 || !hearth_name_valid(name))
		return fail_errno(err, "state: cannot remove vms/%s: %s", name, strerror(errno));
	char gone[96];
	snprintf(gone, sizeof(gone), ".removing-%s-%d", name, (int)getpid());
	const char *victim = renameat(vms, name, vms, gone) == 0 ? gone : name;
	if (rm_rf_at(vms, victim) < 0)
		return fail_errno(err, "state: cannot remove vms/%s: %s", name, strerror(errno));
	return 0;
}

int record_read(int vmfd, struct hearth_record **ret, struct hearth_error **err)
{
	_cleanup_free_ char *text = NULL;
	if (read_file_at(vmfd, "record.json", 1 << 20, &text, NULL) < 0)
		return fail_errno(err, "state: cannot read record.json: %s", strerror(errno));
	return record_parse(text, ret, err);
}

int record_write(int vmfd, const struct hearth_record *rec, struct hearth_error **err)
{
	json_t *o = record_to_json(rec, NULL, RECORD_JSON_STATE);
	char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(o);
	int rc = write_file_atomic_at(vmfd, "record.json", text, strlen(text), 0600);
	free(text);
	if (rc < 0)
		return fail_errno(err, "state: cannot write record.json: %s", strerror(errno));
	return 0;
}

int record_update(int vmfd, record_fn fn, void *arg, struct hearth_error **err)
{
	_cleanup_close_ int lock = lock_file(vmfd, "lock", err);
	if (lock < 0)
		return -1;
	struct hearth_record *rec = NULL;
	if (record_read(vmfd, &rec, err) < 0)
		return -1;
	fn(rec, arg);
	int rc = record_write(vmfd, rec, err);
	record_free(rec);
	return rc;
}

unsigned state_root_tag(const struct hearth_ctx *ctx)
{
	const char *root = ctx_get(ctx, HEARTH_SETTING_STATE_DIR);
	uint32_t h = 2166136261u;
	for (const char *p = root; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return h & 0xffff;
}
