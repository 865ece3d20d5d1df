/* QEMU snapshots: guest memory as a file a restore maps copy-on-write,
 * device state through QMP migration (x-ignore-shared: no RAM in the
 * stream), the root disk's writes as a qcow2 overlay of the image, and
 * copies of the small drives. Taken while the VM is paused, so all of it
 * is one instant; the guest runs on afterwards.
 *
 * Why not QEMU's snapshot=on for the root: QEMU 7.2 unlinks the *base*
 * image when a drive-backup of such a drive fails (the temporary flag is
 * inherited by the backing file it opens); an overlay hearth makes with
 * qemu-img is a plain file to copy. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/digest.h"
#include "lib/proc.h"
#include "lib/qmp.h"
#include "lib/state.h"
#include "qemu_accel.h"
#include "vm.h"
#include "vm_drives.h"

#define MIGRATE_TIMEOUT_MS 60000
#define VMSTATE_FD "hearth-vmstate"
#define PAGE 4096

/* Where a running QEMU's guest RAM can be read: the memfd it lives in
 * (holes and all), or for a guest restored from a snapshot, the private
 * mapping of the snapshot's memory file, through /proc/PID/mem. */
struct guest_ram {
	int fd;
	off_t base;  /* where RAM starts in FD */
	bool holes;  /* FD answers SEEK_DATA */
};

static int ram_from_memfd(const struct hearth_record *rec)
{
	_cleanup_free_ char *dir = xasprintf("/proc/%d/fd", rec->vmm_pid);
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	int fd = -1;
	struct dirent *e;
	while (fd < 0 && (e = readdir(d))) {
		char target[128];
		ssize_t n = readlinkat(dirfd(d), e->d_name, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (str_has_prefix(target, "/memfd:memory-backend-memfd"))
			fd = openat(dirfd(d), e->d_name, O_RDONLY | O_CLOEXEC);
	}
	closedir(d);
	return fd;
}

/* The address of the SIZE-byte mapping of PATH in the VMM, or 0. */
static unsigned long ram_mapping(const struct hearth_record *rec, const char *path, uint64_t size)
{
	_cleanup_free_ char *maps = xasprintf("/proc/%d/maps", rec->vmm_pid);
	FILE *f = fopen(maps, "re");
	if (!f)
		return 0;
	char line[4352];
	unsigned long found = 0;
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		int at = 0;
		if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &lo, &hi, &at) != 2 || at == 0)
			continue;
		line[strcspn(line, "\n")] = '\0';
		if (hi - lo == size && strcmp(line + at, path) == 0)
			found = lo;
	}
	fclose(f);
	return found;
}

static int open_guest_ram(const struct hearth_record *rec, uint64_t size, struct guest_ram *r,
			  struct hearth_error **err)
{
	if (rec->vmm_pid <= 0 || !proc_alive(rec->vmm_pid, rec->vmm_start))
		return fail_conflict(err, "snapshot: %s: its QEMU is not running", rec->name);
	*r = (struct guest_ram){ .fd = ram_from_memfd(rec), .holes = true };
	if (r->fd >= 0)
		return 0;
	_cleanup_free_ char *file = rec->origin ? xasprintf("%s/" QEMU_SNAP_MEMORY, rec->origin) : NULL;
	unsigned long at = file ? ram_mapping(rec, file, size) : 0;
	if (!at)
		return fail_invalid(err,
				    "snapshot: %s: its RAM is not in a memfd (started by an older hearth: restart it)",
				    rec->name);
	_cleanup_free_ char *mem = xasprintf("/proc/%d/mem", rec->vmm_pid);
	*r = (struct guest_ram){ .fd = open(mem, O_RDONLY | O_CLOEXEC), .base = (off_t)at, .holes = false };
	if (r->fd < 0)
		return fail_errno(err, "snapshot: %s: %s", mem, strerror(errno));
	return 0;
}

static bool page_is_zero(const unsigned char *p)
{
	static const unsigned char zero[PAGE];
	return memcmp(p, zero, PAGE) == 0;
}

/* Copies guest RAM to a new file PATH of SIZE bytes: only pages that
 * hold something (the rest stays a hole, read back as zeros). */
static int copy_ram(const struct guest_ram *ram, const char *path, uint64_t size, struct hearth_error **err)
{
	int in = ram->fd;
	_cleanup_close_ int out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0 || ftruncate(out, (off_t)size) < 0)
		return fail_errno(err, "snapshot: %s: %s", path, strerror(errno));
	enum { CHUNK = 1 << 20 };
	_cleanup_free_ unsigned char *buf = xmalloc(CHUNK);
	off_t pos = 0;
	while ((uint64_t)pos < size) {
		off_t data = ram->holes ? lseek(in, pos, SEEK_DATA) : pos;
		if (data < 0 && errno == ENXIO)
			break; /* no data past POS */
		off_t hole = data < 0 ? -1 : ram->holes ? lseek(in, data, SEEK_HOLE) : (off_t)size;
		if (data < 0 || hole < 0)
			return fail_errno(err, "snapshot: reading guest RAM: %s", strerror(errno));
		for (pos = data; pos < hole;) {
			size_t want = (size_t)(hole - pos < CHUNK ? hole - pos : CHUNK);
			ssize_t n = pread(in, buf, want, ram->base + pos);
			if (n <= 0)
				return fail_errno(err, "snapshot: reading guest RAM: %s", n < 0 ? strerror(errno) : "EOF");
			for (ssize_t off = 0; off < n; off += PAGE) {
				size_t len = (size_t)(n - off < PAGE ? n - off : PAGE);
				if (len == PAGE && page_is_zero(buf + off))
					continue;
				if (pwrite(out, buf + off, len, pos + off) != (ssize_t)len)
					return fail_errno(err, "snapshot: %s: %s", path, strerror(errno ? errno : ENOSPC));
			}
			pos += n;
		}
	}
	if (fsync(out) < 0)
		return fail_errno(err, "snapshot: %s: %s", path, strerror(errno));
	return 0;
}

/* Runs a migration to or from FD and waits for its end. */
static int migrate(struct qmp_conn *c, bool incoming, int fd, struct hearth_error **err)
{
	json_t *caps = json_pack("{s:[{s:s, s:b}]}", "capabilities", "capability", "x-ignore-shared", "state", 1);
	if (qmp_call(c, "migrate-set-capabilities", caps, NULL, err) < 0 || qmp_send_fd(c, fd, VMSTATE_FD, err) < 0 ||
	    qmp_call(c, incoming ? "migrate-incoming" : "migrate", json_pack("{s:s}", "uri", "fd:" VMSTATE_FD), NULL,
		     err) < 0)
		return -1;
	int64_t deadline = now_ms() + MIGRATE_TIMEOUT_MS;
	for (;;) {
		json_t *r = NULL;
		if (qmp_call(c, "query-migrate", NULL, &r, err) < 0)
			return -1;
		const char *st = json_string_value(json_object_get(r, "status"));
		_cleanup_free_ char *status = xstrdup(st ? st : "none");
		_cleanup_free_ char *why = json_is_string(json_object_get(r, "error-desc"))
						   ? xstrdup(json_string_value(json_object_get(r, "error-desc")))
						   : NULL;
		json_decref(r);
		if (strcmp(status, "completed") == 0)
			return 0;
		if (strcmp(status, "failed") == 0 || strcmp(status, "cancelled") == 0)
			return fail_runtime(err, "migration %s%s%s", status, why ? ": " : "", why ? why : "");
		if (now_ms() > deadline)
			return fail_runtime(err, "migration still %s after %d s", status, MIGRATE_TIMEOUT_MS / 1000);
		sleep_ms(5);
	}
}

/* The files of DIR's root disk, and what they rest on. */
static int copy_root(struct guest *g, const char *dir, json_t *facts, struct hearth_error **err)
{
	bool persistent = hearth_config_persistent(g->cfg);
	const char *name = persistent ? VM_PERSISTENT_DISK : QEMU_OVERLAY;
	struct stat st;
	if (fstatat(g->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return fail_invalid(err, "snapshot: %s: its root disk has no overlay to copy (started without qemu-img: "
					 "install qemu-utils and restart it)",
				    g->name);
	_cleanup_free_ char *src = xasprintf("%s/%s", g->dir, name);
	_cleanup_free_ char *dst = xasprintf("%s/%s", dir, persistent ? QEMU_SNAP_DISK : QEMU_SNAP_OVERLAY);
	if (vm_copy_image(g->ctx, src, dst, err) < 0)
		return -1;
	if (!persistent) /* the overlay names its base by path: it must stay */
		json_object_set_new(facts, "base", vm_file_identity(g->cfg->rootfs_path));
	return 0;
}

static int copy_drives(struct guest *g, const char *from, const char *to, struct hearth_error **err)
{
	static const char *const drives[] = { "config.img", "secrets.img" };
	for (size_t i = 0; i < ARRAY_SIZE(drives); i++) {
		_cleanup_free_ char *a = xasprintf("%s/%s", from, drives[i]), *b = xasprintf("%s/%s", to, drives[i]);
		if (vm_copy_image(g->ctx, a, b, err) < 0)
			return -1;
	}
	return vm_copy_volumes(g->ctx, from, to, err);
}

/* The QEMU binary by identity, and with VERSION its version line (a
 * process spawn: a restore asks only when the binary changed). */
static json_t *qemu_facts(const struct hearth_ctx *ctx, bool version)
{
	_cleanup_free_ char *qemu = vm_program(ctx, HEARTH_SETTING_QEMU, "qemu-system-x86_64");
	_cleanup_free_ char *line = qemu && version ? vm_version_line(qemu) : NULL;
	return json_pack("{s:s?, s:o}", "qemu_version", line, "qemu", qemu ? vm_file_identity(qemu) : json_null());
}

/* The device state into DIR/vmstate, its digest into DIGEST. */
static int save_state(struct guest *g, struct qmp_conn *c, const char *dir, char digest[DIGEST_MAX],
		      struct hearth_error **err)
{
	_cleanup_free_ char *vmstate = xasprintf("%s/" QEMU_SNAP_VMSTATE, dir);
	_cleanup_close_ int out = open(vmstate, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0)
		return fail_errno(err, "snapshot: %s: %s", vmstate, strerror(errno));
	/* The migration's end also flushes the disks (QEMU inactivates them). */
	if (migrate(c, false, out, err) < 0) {
		hearth_error_prefix(err, "snapshot: %s: ", g->name);
		return -1;
	}
	if (fsync(out) < 0 || lseek(out, 0, SEEK_SET) < 0)
		return fail_errno(err, "snapshot: %s: %s", vmstate, strerror(errno));
	struct digest_state *d = digest_begin();
	char buf[65536];
	ssize_t n;
	while ((n = read(out, buf, sizeof(buf))) > 0)
		digest_update(d, buf, (size_t)n);
	digest_end(d, digest);
	return n < 0 ? fail_errno(err, "snapshot: %s: %s", vmstate, strerror(errno)) : 0;
}

static int take(struct guest *g, struct qmp_conn *c, const char *dir, struct hearth_error **err)
{
	uint64_t bytes = (uint64_t)g->cfg->memory_mib << 20;
	_cleanup_free_ char *kernel = vm_kernel(g, err);
	struct guest_ram ram = { .fd = -1 };
	char digest[DIGEST_MAX];
	if (!kernel || open_guest_ram(g->rec, bytes, &ram, err) < 0)
		return -1;
	int rc = save_state(g, c, dir, digest, err);
	if (rc == 0) {
		json_t *facts = qemu_facts(g->ctx, true);
		json_object_set_new(facts, "vmstate", json_string(digest));
		json_object_set_new(facts, "memory_bytes", json_integer((json_int_t)bytes));
		json_object_set_new(facts, "kernel", vm_file_identity(kernel));
		g->snapshot_facts = facts;
		_cleanup_free_ char *memory = xasprintf("%s/" QEMU_SNAP_MEMORY, dir);
		if (copy_ram(&ram, memory, bytes, err) < 0 || copy_root(g, dir, facts, err) < 0 ||
		    copy_drives(g, g->dir, dir, err) < 0)
			rc = -1;
	}
	close(ram.fd);
	return rc;
}

int qemu_snapshot_create(struct guest *g, const char *dir, struct hearth_error **err)
{
	_cleanup_free_ char *qmp = xasprintf("%s/qmp.sock", g->dir);
	struct qmp_conn c;
	if (qmp_open(qmp, &c, err) < 0)
		return -1;
	bool was_running = g->rec->status == HEARTH_STATUS_RUNNING || g->rec->status == HEARTH_STATUS_STARTING;
	int rc = was_running ? qmp_call(&c, "stop", NULL, NULL, err) : 0;
	if (rc == 0)
		rc = take(g, &c, dir, err);
	/* The guest runs on whatever became of the snapshot ("cont" also
	 * takes the disks back from a finished migration). */
	struct hearth_error *resume_err = NULL;
	if (was_running && qmp_call(&c, "cont", NULL, NULL, &resume_err) < 0 && rc == 0) {
		rc = -1;
		hearth_error_pass(err, resume_err);
		resume_err = NULL;
	}
	hearth_error_free(resume_err);
	qmp_close(&c);
	return rc;
}

/* What a restore checks before it starts anything: the same QEMU, the
 * base the overlay rests on, a memory file of the guest's size, a device
 * state with the digest it was taken with. */
static int restore_check(struct guest *g, const char *dir, struct hearth_error **err)
{
	json_t *facts = g->snapshot_facts;
	json_t *now = qemu_facts(g->ctx, false);
	bool same = json_equal(json_object_get(now, "qemu"), json_object_get(facts, "qemu"));
	if (!same) { /* another binary: the same release will do */
		json_decref(now);
		now = qemu_facts(g->ctx, true);
	}
	const char *want_v = json_string_value(json_object_get(facts, "qemu_version"));
	const char *have_v = json_string_value(json_object_get(now, "qemu_version"));
	same = same || (want_v && have_v && strcmp(want_v, have_v) == 0);
	_cleanup_free_ char *have = xstrdup(have_v ? have_v : "another QEMU");
	json_decref(now);
	if (!want_v || !same)
		return fail_invalid(err, "snapshot: taken with %s; this host has %s", want_v ? want_v : "another QEMU",
				    have);
	_cleanup_free_ char *kernel = vm_kernel(g, err);
	if (!kernel || vm_file_identity_check(json_object_get(facts, "kernel"), "kernel", err) < 0)
		return -1;
	if (!hearth_config_persistent(g->cfg) && vm_file_identity_check(json_object_get(facts, "base"), "rootfs", err) < 0)
		return -1;
	_cleanup_free_ char *memory = xasprintf("%s/" QEMU_SNAP_MEMORY, dir);
	struct stat st;
	uint64_t want = (uint64_t)g->cfg->memory_mib << 20;
	if (stat(memory, &st) < 0)
		return fail_errno(err, "snapshot: %s: %s", memory, strerror(errno));
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != want)
		return fail_invalid(err, "snapshot: %s: %lld bytes, not the %u MiB of guest memory it holds", memory,
				    (long long)st.st_size, g->cfg->memory_mib);
	return 0;
}

static int open_vmstate(struct guest *g, const char *dir, struct hearth_error **err)
{
	_cleanup_free_ char *vmstate = xasprintf("%s/" QEMU_SNAP_VMSTATE, dir);
	int fd = open(vmstate, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail_errno(err, "snapshot: %s: %s", vmstate, strerror(errno));
	const char *want = json_string_value(json_object_get(g->snapshot_facts, "vmstate"));
	if (digest_check_fd(fd, want ? want : "", vmstate, err) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int load_state(struct guest *g, const char *dir, int fd, struct hearth_error **err)
{
	_cleanup_free_ char *vmstate = xasprintf("%s/" QEMU_SNAP_VMSTATE, dir);
	_cleanup_free_ char *qmp = xasprintf("%s/qmp.sock", g->dir);
	struct qmp_conn c;
	int64_t deadline = now_ms() + 10000;
	struct hearth_error *e = NULL;
	/* QEMU makes its QMP socket a moment after it starts. */
	while (qmp_open(qmp, &c, &e) < 0) {
		if (now_ms() > deadline || !proc_alive(g->rec->vmm_pid, g->rec->vmm_start) ||
		    (e->code != ENOENT && e->code != ECONNREFUSED)) {
			hearth_error_pass(err, e);
			return -1;
		}
		hearth_error_free(e);
		e = NULL;
		sleep_ms(2);
	}
	int rc = migrate(&c, true, fd, err);
	if (rc < 0)
		hearth_error_prefix(err, "snapshot: %s: QEMU could not load it: ", vmstate);
	else
		rc = qmp_call(&c, "cont", NULL, NULL, err);
	qmp_close(&c);
	return rc;
}

/* A clone's config drive must fit the device its template's guest
 * knows: the kernel read the capacity once, at the template's boot. */
static int drives_fit(struct guest *g, const char *dir, struct hearth_error **err)
{
	static const char *const drives[] = { "config.img", "secrets.img" };
	for (size_t i = 0; i < ARRAY_SIZE(drives); i++) {
		_cleanup_free_ char *was = xasprintf("%s/%s", dir, drives[i]);
		struct stat a, b;
		if (stat(was, &a) < 0 || fstatat(g->dirfd, drives[i], &b, 0) < 0)
			return fail_errno(err, "snapshot: %s: %s", was, strerror(errno));
		if (b.st_size > a.st_size)
			return fail_invalid(err, "%s: the files need a %lld KiB drive; the template's guest has %lld KiB",
					    i == 0 ? "config_files" : "secret_files", (long long)b.st_size >> 10,
					    (long long)a.st_size >> 10);
	}
	return 0;
}

/* Ends a QEMU that did not come up, and waits for its monitor, so the
 * core can remove the guest whole. */
static void abandon(struct guest *g)
{
	struct hearth_record *rec = NULL;
	if (record_read(g->dirfd, &rec, NULL) < 0)
		return;
	record_kill_vmm(rec);
	for (int i = 0; i < 500 && rec->monitor_pid > 0 && proc_alive(rec->monitor_pid, rec->monitor_start); i++)
		sleep_ms(10);
	record_free(rec);
}

int qemu_snapshot_restore(struct guest *g, const char *dir, struct hearth_error **err)
{
	_cleanup_close_ int vmstate = -1;
	if (restore_check(g, dir, err) < 0 || (vmstate = open_vmstate(g, dir, err)) < 0)
		return -1;
	/* A clone's own config and secrets, or the snapshot's copies. */
	int rc = g->own_drives ? vm_drives_build(g, err) : copy_drives(g, dir, g->dir, err);
	if (rc == 0 && g->own_drives)
		rc = drives_fit(g, dir, err) < 0 || vm_copy_volumes(g->ctx, dir, g->dir, err) < 0 ? -1 : 0;
	if (rc < 0 || qemu_launch(g, dir, err) < 0)
		return -1;
	record_free(g->rec);
	g->rec = NULL;
	if (record_read(g->dirfd, &g->rec, err) < 0 || load_state(g, dir, vmstate, err) < 0) {
		abandon(g);
		return -1;
	}
	return 0;
}
