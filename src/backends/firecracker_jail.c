/* Where a Firecracker VMM runs and what it finds there: the state
 * directory, or the jailer's chroot (<state>/jail/<exec>/<name>/root)
 * with the guest's files placed inside it for the jail's user, cgroup
 * limits in the keys of the host's cgroup version; the launch under the
 * monitor; and the clean-up when a start goes wrong. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "firecracker.h"
#include "lib/monitor.h"
#include "lib/proc.h"
#include "lib/state.h"
#include "vm.h"
#include "vm_drives.h"

#define SOCKET_WAIT_MS 5000
#define JAIL_MEMORY_OVERHEAD_MIB 64
#define CPU_PERIOD_US 100000

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

char *fc_root_dir(const struct guest *g, const char *jailer_exec)
{
	if (!jailer_exec)
		return xstrdup(g->dir);
	return xasprintf("%s/jail/%s/%s/root", g->dir, base_name(jailer_exec), g->name);
}

char *fc_jail_cgroup(const struct hearth_ctx *ctx, const char *name)
{
	return xasprintf("hearth-%04x/%s", state_root_tag(ctx), name);
}

void fc_jailer_argv(const struct fc_jail *j, struct strv *a)
{
	strv_add(a, xstrdup(j->jailer));
	strv_add(a, xstrdup("--id"));
	strv_add(a, xstrdup(j->id));
	strv_add(a, xstrdup("--exec-file"));
	strv_add(a, xstrdup(j->exec_file));
	strv_add(a, xstrdup("--uid"));
	strv_addf(a, "%u", j->uid);
	strv_add(a, xstrdup("--gid"));
	strv_addf(a, "%u", j->gid);
	strv_add(a, xstrdup("--chroot-base-dir"));
	strv_add(a, xstrdup(j->base_dir));
	strv_add(a, xstrdup("--cgroup-version"));
	strv_addf(a, "%d", (int)j->cgroup);
	strv_add(a, xstrdup("--parent-cgroup"));
	strv_add(a, xstrdup(j->parent_cgroup));
	/* The same limits in each version's own files. */
	strv_add(a, xstrdup("--cgroup"));
	if (j->cgroup == CGROUP_V2) {
		strv_addf(a, "memory.max=%llu", (unsigned long long)j->memory_bytes);
		strv_add(a, xstrdup("--cgroup"));
		strv_addf(a, "cpu.max=%u %u", j->cpus * CPU_PERIOD_US, CPU_PERIOD_US);
	} else {
		strv_addf(a, "memory.limit_in_bytes=%llu", (unsigned long long)j->memory_bytes);
		strv_add(a, xstrdup("--cgroup"));
		strv_addf(a, "cpu.cfs_period_us=%u", CPU_PERIOD_US);
		strv_add(a, xstrdup("--cgroup"));
		strv_addf(a, "cpu.cfs_quota_us=%u", j->cpus * CPU_PERIOD_US);
	}
	strv_add(a, xstrdup("--"));
	strv_add(a, xstrdup("--api-sock"));
	strv_add(a, xstrdup("/firecracker.sock"));
}

int fc_check_paths(struct guest *g, const char *fc, char **ret_root, char **ret_kernel, struct hearth_error **err)
{
	const struct hearth_run_options *o = g->opts;
	if (o->jailer && access(o->jailer, X_OK) < 0)
		return fail_invalid(err, "jailer: not an executable (%s)", o->jailer);
	if (o->jailer && cgroup_host_version() == CGROUP_NONE)
		return fail_invalid(err, "jailer: no cgroup hierarchy is mounted here (/proc/self/mounts lists none; "
					 "`ip netns exec` hides them, `nsenter --net` does not)");
	_cleanup_free_ char *kernel = vm_kernel(g, err);
	_cleanup_free_ char *root = kernel ? fc_root_dir(g, o->jailer ? fc : NULL) : NULL;
	_cleanup_free_ char *probe = root ? vm_socket_path(root, "firecracker.sock", err) : NULL;
	if (!probe)
		return -1;
	*ret_root = steal(root);
	*ret_kernel = steal(kernel);
	return 0;
}

static void fc_record_start(struct hearth_record *rec, void *arg)
{
	const char *channel = arg;
	free(rec->guest_channel);
	rec->guest_channel = xstrdup(channel);
	free(rec->accel);
	rec->accel = xstrdup("kvm");
	rec->vsock_cid = fc_guest_cid(rec);
}

int fc_prepare(struct guest *g, const char *root, struct hearth_error **err)
{
	const struct hearth_run_options *o = g->opts;
	_cleanup_free_ char *channel = xasprintf("%s/vsock.sock", root);
	if (record_update(g->dirfd, fc_record_start, channel, err) < 0)
		return -1;
	record_free(g->rec);
	g->rec = NULL;
	if (record_read(g->dirfd, &g->rec, err) < 0)
		return -1;
	_cleanup_close_ int log =
		openat(g->dirfd, "firecracker.log", O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (log < 0)
		return fail_errno(err, "state: firecracker.log: %s", strerror(errno));
	if (o->jailer && (mkdir_p(root, 0700) < 0 || chown(root, o->jail_uid, o->jail_gid) < 0))
		return fail_errno(err, "jailer: %s: %s", root, strerror(errno));
	return 0;
}

/* Places FILE in the VMM's root as NAME, owned by the jail's user: the
 * guest's own files by hard link (one inode, so the VMM's writes are the
 * guest's), anything else (the kernel, an initrd) as a copy, since a
 * chown through a link would change the original. */
static int stage(const struct hearth_ctx *ctx, const char *root, const char *file, const char *name,
		 const struct hearth_run_options *o, bool own, struct hearth_error **err)
{
	_cleanup_free_ char *dst = xasprintf("%s/%s", root, name);
	if ((!own || link(file, dst) < 0) && vm_copy_image(ctx, file, dst, err) < 0)
		return -1;
	if (o->jailer && chown(dst, o->jail_uid, o->jail_gid) < 0)
		return fail_errno(err, "jailer: chown %s: %s", dst, strerror(errno));
	return 0;
}

/* Whether UID:GID may open ST's file for reading, or writing too. */
static bool may_open(const struct stat *st, unsigned uid, unsigned gid, bool write)
{
	mode_t want = write ? 06 : 04;
	if (uid == 0)
		return true;
	if (st->st_uid == uid)
		return ((st->st_mode >> 6) & want) == want;
	if (st->st_gid == gid)
		return ((st->st_mode >> 3) & want) == want;
	return (st->st_mode & want) == want;
}

/* A volume inside the jail: the same inode by hard link (a symlink to a
 * host path resolves to nothing in the chroot). A named volume is
 * hearth's own and handed to the jail's user; an image the user gave
 * keeps its owner and must already be open to the jail's user. */
static int stage_volume(const char *root, const char *src, const char *name, const struct hearth_volume *v,
			const struct hearth_run_options *o, struct hearth_error **err)
{
	_cleanup_free_ char *dst = xasprintf("%s/%s", root, name);
	bool named = !strchr(v->host, '/');
	struct stat st;
	if (stat(src, &st) < 0)
		return fail_errno(err, "volumes: %s: %s", src, strerror(errno));
	if (!named && !may_open(&st, o->jail_uid, o->jail_gid, !v->read_only))
		return fail_invalid(err, "volumes: the jail's user %u:%u cannot open it for %s (%s)", o->jail_uid,
				    o->jail_gid, v->read_only ? "reading" : "writing", v->host);
	if (link(src, dst) < 0) {
		if (errno == EXDEV)
			return fail_invalid(err,
					    "volumes: a jailed VMM reaches volumes by hard link, and %s is on "
					    "another filesystem than the state root (%s)",
					    v->host, root);
		return fail_errno(err, "volumes: link %s: %s", src, strerror(errno));
	}
	if (named && chown(dst, o->jail_uid, o->jail_gid) < 0)
		return fail_errno(err, "jailer: chown %s: %s", dst, strerror(errno));
	return 0;
}

int fc_stage_files(struct guest *g, const char *root, const char *kernel, const char *rootfs_src,
		   struct hearth_error **err)
{
	const struct hearth_config *cfg = g->cfg;
	const struct hearth_run_options *o = g->opts;
	_cleanup_free_ char *rootfs = xasprintf("%s/rootfs.img", g->dir);
	if (hearth_config_persistent(cfg) ? vm_persistent_disk(g, "rootfs.img", err) < 0
					  : vm_copy_image(g->ctx, rootfs_src, rootfs, err) < 0)
		return -1;
	if (o->jailer) {
		static const char *const own[] = { "rootfs.img", "config.img", "secrets.img" };
		for (size_t i = 0; i < ARRAY_SIZE(own); i++) {
			_cleanup_free_ char *src = xasprintf("%s/%s", g->dir, own[i]);
			if (stage(g->ctx, root, src, own[i], o, true, err) < 0)
				return -1;
		}
		if (stage(g->ctx, root, kernel, "vmlinux", o, false, err) < 0 ||
		    (cfg->initrd_path && stage(g->ctx, root, cfg->initrd_path, "initrd", o, false, err) < 0))
			return -1;
		_cleanup_free_ char *log = xasprintf("%s/firecracker.log", g->dir);
		if (stage(g->ctx, root, log, "firecracker.log", o, true, err) < 0)
			return -1;
	} else if (cfg->initrd_path) {
		_cleanup_free_ char *dst = xasprintf("%s/initrd", g->dir);
		if (symlink(cfg->initrd_path, dst) < 0)
			return fail_errno(err, "state: %s: %s", dst, strerror(errno));
	}
	for (size_t i = 0; i < cfg->n_volumes; i++) {
		_cleanup_free_ char *src = vm_volume_path(g, &cfg->volumes[i]);
		_cleanup_free_ char *name = xasprintf("vol%zu.img", i);
		if (o->jailer) {
			if (stage_volume(root, src, name, &cfg->volumes[i], o, err) < 0)
				return -1;
			continue;
		}
		/* A volume is shared state: the VMM opens the image itself. */
		_cleanup_free_ char *dst = xasprintf("%s/%s", root, name);
		if (symlink(src, dst) < 0)
			return fail_errno(err, "state: %s: %s", dst, strerror(errno));
	}
	return 0;
}

/* Waits for the API socket to accept a connection while the VMM lives. */
static int fc_wait_socket(const char *sock, pid_t vmm, uint64_t vmm_start, struct hearth_error **err)
{
	int64_t deadline = now_ms() + SOCKET_WAIT_MS;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	memcpy(sa.sun_path, sock, strlen(sock) + 1);
	for (;;) {
		_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return 0;
		if (!proc_alive(vmm, vmm_start))
			return fail_runtime(err, "firecracker: exited before its API socket appeared");
		if (now_ms() > deadline)
			return fail_runtime(err, "firecracker: API socket %s did not appear within %d s", sock,
					    SOCKET_WAIT_MS / 1000);
		sleep_ms(10);
	}
}

void fc_abort(struct guest *g)
{
	struct hearth_record *rec = NULL;
	if (record_read(g->dirfd, &rec, NULL) < 0)
		return;
	record_kill_vmm(rec);
	int64_t deadline = now_ms() + 10000;
	while (rec->monitor_pid > 0 && proc_alive(rec->monitor_pid, rec->monitor_start) && now_ms() < deadline)
		sleep_ms(10);
	record_free(rec);
}

int fc_launch(struct guest *g, const char *fc, const char *root, char **ret_sock, struct hearth_error **err)
{
	const struct hearth_run_options *o = g->opts;
	struct strv argv = { 0 };
	_cleanup_free_ char *base = xasprintf("%s/jail", g->dir);
	_cleanup_free_ char *cgroup = o->jailer ? fc_jail_cgroup(g->ctx, g->name) : NULL;
	if (o->jailer) {
		_cleanup_free_ char *parent = xstrdup(cgroup);
		*strchr(parent, '/') = '\0';
		struct fc_jail j = { .jailer = o->jailer,
				     .exec_file = fc,
				     .id = g->name,
				     .base_dir = base,
				     .parent_cgroup = parent,
				     .uid = o->jail_uid,
				     .gid = o->jail_gid,
				     .cpus = g->cfg->cpus,
				     .memory_bytes = (uint64_t)(g->cfg->memory_mib + JAIL_MEMORY_OVERHEAD_MIB) << 20,
				     .cgroup = cgroup_host_version() };
		fc_jailer_argv(&j, &argv);
	} else {
		strv_add(&argv, xstrdup(fc));
		strv_add(&argv, xstrdup("--api-sock"));
		strv_add(&argv, xstrdup("firecracker.sock"));
	}
	/* A persistent guest's rootfs.img is its disk: kept after it stops. */
	static const char *const cleanup[] = { "firecracker.sock", "vsock.sock", "config.img",
					       "secrets.img",	   "rootfs.img", NULL };
	static const char *const cleanup_persistent[] = { "firecracker.sock", "vsock.sock", "config.img", "secrets.img",
							  NULL };
	struct monitor_spec spec = { .argv = argv.v,
				     .dir = g->dir,
				     .cleanup = hearth_config_persistent(g->cfg) ? cleanup_persistent : cleanup,
				     .vmm_name = "firecracker",
				     .vmm_log = "firecracker.log",
				     .cleanup_tree = o->jailer ? "jail" : NULL,
				     .cleanup_cgroup = cgroup };
	vm_monitor_bridge(&spec, g);
	int rc = monitor_launch(g->ctx, &spec, err);
	strv_free(&argv);
	if (rc < 0) {
		hearth_error_prefix(err, "firecracker: start: ");
		return -1;
	}
	g->launched = true;
	struct hearth_record *rec = NULL;
	if (record_read(g->dirfd, &rec, err) < 0) {
		fc_abort(g);
		return -1;
	}
	_cleanup_free_ char *sock = xasprintf("%s/firecracker.sock", root);
	rc = fc_wait_socket(sock, rec->vmm_pid, rec->vmm_start, err);
	record_free(rec);
	if (rc < 0) {
		fc_abort(g);
		return -1;
	}
	*ret_sock = steal(sock);
	return 0;
}

int fc_remove(struct guest *g, struct hearth_error **err)
{
	(void)err;
	/* The monitor does this when the VMM exits; a monitor killed
	 * outright leaves it here. */
	_cleanup_free_ char *jail = xasprintf("%s/jail", g->dir);
	_cleanup_free_ char *cgroup = fc_jail_cgroup(g->ctx, g->name);
	cgroup_remove(cgroup);
	rm_rf(jail);
	return 0;
}
