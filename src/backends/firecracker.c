/* The Firecracker backend: the firecracker binary (optionally under its
 * jailer) started by the monitor with --api-sock in the guest's state
 * directory, then configured over that socket with libcurl: logger,
 * boot-source, machine-config, drives, network-interfaces, vsock,
 * InstanceStart. Every path handed to the API is relative to the VMM's
 * working directory (the state directory, or the jail's root), so a
 * snapshot restores in another directory. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "backend.h"
#include "firecracker.h"
#include "lib/http.h"
#include "lib/monitor.h"
#include "lib/proc.h"
#include "lib/state.h"
#include "vm_drives.h"

#define SOCKET_WAIT_MS 5000
#define API_TIMEOUT_MS 30000
#define JAIL_MEMORY_OVERHEAD_MIB 64

char *fc_binary(void)
{
	const char *env = getenv("HEARTH_FIRECRACKER");
	return proc_find_program(env && *env ? env : "firecracker");
}

char *fc_binary_or_fail(struct hearth_error **err)
{
	char *fc = fc_binary();
	if (!fc)
		fail_runtime(err, "firecracker: not found (give --firecracker or HEARTH_FIRECRACKER)");
	return fc;
}

static void fc_probe(struct hearth_backend_info *info, bool full)
{
	_cleanup_free_ char *fc = fc_binary();
	if (!fc) {
		info->reason = xstrdup("firecracker not found (put it on PATH or set HEARTH_FIRECRACKER)");
		return;
	}
	_cleanup_close_ int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0) {
		info->reason = xasprintf("%s found, but /dev/kvm: %s", fc, strerror(errno));
		return;
	}
	if (full) {
		char *argv[] = { fc, "--version", NULL };
		_cleanup_free_ char *out = NULL;
		if (proc_run(argv, 5000, &out, NULL) != 0 || !out) {
			info->reason = xasprintf("%s --version failed", fc);
			return;
		}
		out[strcspn(out, "\n")] = '\0';
		const char *v = strstr(out, " v");
		info->version = xstrdup(v ? v + 2 : out);
	}
	info->available = true;
	info->reason = xasprintf("%s, /dev/kvm", fc);
}

/* The host directory the VMM sees as its working directory. */
char *fc_root_dir(const struct guest *g, const char *jailer_exec)
{
	if (!jailer_exec)
		return xstrdup(g->dir);
	_cleanup_free_ char *copy = xstrdup(jailer_exec);
	return xasprintf("%s/jail/%s/%s/root", g->dir, basename(copy), g->name);
}

/* One API call; a non-2xx answer becomes an error with Firecracker's
 * fault message and the request that caused it. */
int fc_api(const char *sock, const char *method, const char *path, json_t *body, struct hearth_error **err)
{
	struct http_request req = { .socket_path = sock, .method = method, .path = path, .body = body,
				    .upload_fd = -1, .timeout_ms = API_TIMEOUT_MS };
	struct http_response resp = { 0 };
	if (http_do(&req, &resp, err) < 0) {
		hearth_error_prefix(err, "firecracker: %s %s: ", method, path);
		return -1;
	}
	int rc = 0;
	if (resp.status < 200 || resp.status > 299) {
		const char *fault = NULL;
		json_t *o = resp.body ? json_loads(resp.body, 0, NULL) : NULL;
		if (json_is_string(json_object_get(o, "fault_message")))
			fault = json_string_value(json_object_get(o, "fault_message"));
		_cleanup_free_ char *sent = body ? json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS) : xstrdup("");
		rc = fail_runtime(err, "firecracker: %s %s %s: %ld %s", method, path, sent, resp.status,
				  fault ? fault : (resp.body && *resp.body ? resp.body : "(no fault message)"));
		json_decref(o);
	}
	http_response_release(&resp);
	return rc;
}

static int fc_put(const char *sock, const char *path, json_t *body, struct hearth_error **err)
{
	int rc = fc_api(sock, "PUT", path, body, err);
	json_decref(body);
	return rc;
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
			return fail_runtime(err, "firecracker: exited before its API socket appeared "
						 "(see hearth logs --hypervisor)");
		if (now_ms() > deadline)
			return fail_runtime(err, "firecracker: API socket %s did not appear within %d s", sock,
					    SOCKET_WAIT_MS / 1000);
		sleep_ms(10);
	}
}

/* Kills the VMM and waits for its monitor, which removes the TAP, the
 * proxies and the sockets: after a failed start nothing is left. */
void fc_abort(struct guest *g)
{
	struct hearth_record *rec = NULL;
	struct hearth_error *ignored = NULL;
	if (record_read(g->dirfd, &rec, &ignored) < 0) {
		hearth_error_free(ignored);
		return;
	}
	if (rec->vmm_pid > 0 && proc_alive(rec->vmm_pid, rec->vmm_start))
		kill(rec->vmm_pid, SIGKILL);
	int64_t deadline = now_ms() + 10000;
	while (rec->monitor_pid > 0 && proc_alive(rec->monitor_pid, rec->monitor_start) && now_ms() < deadline)
		sleep_ms(10);
	hearth_record_free(rec);
}

static char *boot_args(const struct guest *g)
{
	struct strbuf sb = { 0 };
	/* reboot=k: hearth-init's power-off resets through the i8042, which
	 * makes Firecracker exit. pci=off: Firecracker has no PCI bus. */
	strbuf_printf(&sb, "console=ttyS0 reboot=k panic=1 pci=off quiet root=/dev/vda rw hearth.name=%s", g->name);
	if (g->net)
		strbuf_printf(&sb, " hearth.ip=%s hearth.gw=%s", g->net->cidr, g->net->gateway);
	return sb.buf;
}

static int put_drive(const char *sock, const char *id, const char *path, bool root, bool ro,
		     struct hearth_error **err)
{
	_cleanup_free_ char *url = xasprintf("/drives/%s", id);
	return fc_put(sock, url,
		      json_pack("{s:s, s:s, s:b, s:b}", "drive_id", id, "path_on_host", path, "is_root_device", root,
				"is_read_only", ro),
		      err);
}

int fc_put_logger(const char *sock, struct hearth_error **err)
{
	/* The file exists (Firecracker 1.4 does not create it). */
	return fc_put(sock, "/logger", json_pack("{s:s, s:s}", "log_path", "firecracker.log", "level", "Info"), err);
}

/* The whole pre-boot configuration, then InstanceStart. */
static int configure(struct guest *g, const char *sock, const char *kernel, struct hearth_error **err)
{
	const struct hearth_config *cfg = g->cfg;
	_cleanup_free_ char *args = boot_args(g);
	if (fc_put_logger(sock, err) < 0)
		return -1;
	json_t *boot = json_pack("{s:s, s:s}", "kernel_image_path", kernel, "boot_args", args);
	if (cfg->initrd_path)
		json_object_set_new(boot, "initrd_path", json_string("initrd"));
	if (fc_put(sock, "/boot-source", boot, err) < 0 ||
	    fc_put(sock, "/machine-config",
		   json_pack("{s:i, s:i}", "vcpu_count", (int)cfg->cpus, "mem_size_mib", (int)cfg->memory_mib), err) < 0 ||
	    put_drive(sock, "rootfs", "rootfs.img", true, false, err) < 0 ||
	    put_drive(sock, "hearth-config", "config.img", false, true, err) < 0 ||
	    put_drive(sock, "hearth-secrets", "secrets.img", false, true, err) < 0)
		return -1;
	for (size_t i = 0; i < cfg->n_volumes; i++) {
		/* Firecracker hands the drive_id to the guest as the disk's
		 * serial, which is how hearth-init finds volumes. */
		char id[32], file[48];
		snprintf(id, sizeof(id), "hearth-vol%zu", i);
		snprintf(file, sizeof(file), "vol%zu.img", i);
		if (put_drive(sock, id, file, false, cfg->volumes[i].read_only, err) < 0)
			return -1;
	}
	if (g->net &&
	    fc_put(sock, "/network-interfaces/eth0",
		   json_pack("{s:s, s:s, s:s}", "iface_id", "eth0", "host_dev_name", g->net->tap, "guest_mac",
			     g->net->mac),
		   err) < 0)
		return -1;
	/* vsock_id is deprecated in new releases but required by 1.4. */
	if (fc_put(sock, "/vsock",
		   json_pack("{s:s, s:i, s:s}", "vsock_id", "vsock0", "guest_cid", fc_guest_cid(g->rec), "uds_path",
			     "vsock.sock"),
		   err) < 0)
		return -1;
	return fc_put(sock, "/actions", json_pack("{s:s}", "action_type", "InstanceStart"), err);
}

int fc_guest_cid(const struct hearth_record *rec)
{
	return 3 + (rec->net_slot >= 0 ? rec->net_slot : 0);
}

/* Places FILE in the VMM's root as NAME, owned by the jail's user: the
 * guest's own files by hard link (one inode, so the VMM's writes are the
 * guest's), anything else (the kernel, an initrd) as a copy, since a
 * chown through a link would change the original. */
static int stage(const char *root, const char *file, const char *name, const struct hearth_run_options *o,
		 bool own, struct hearth_error **err)
{
	_cleanup_free_ char *dst = xasprintf("%s/%s", root, name);
	if ((!own || link(file, dst) < 0) && vm_copy_image(file, dst, err) < 0)
		return -1;
	if (o->jailer && chown(dst, o->jail_uid, o->jail_gid) < 0)
		return fail_errno(err, "jailer: chown %s: %s", dst, strerror(errno));
	return 0;
}

/* The per-guest files the VMM opens, in its root: the rootfs copy (the
 * image itself stays untouched, as with QEMU's snapshot=on), the config
 * and secrets drives, volumes, kernel and initrd when jailed. */
int fc_stage_files(struct guest *g, const char *root, const char *kernel, const char *rootfs_src,
		   struct hearth_error **err)
{
	const struct hearth_config *cfg = g->cfg;
	const struct hearth_run_options *o = g->opts;
	_cleanup_free_ char *rootfs = xasprintf("%s/rootfs.img", g->dir);
	if (vm_copy_image(rootfs_src, rootfs, err) < 0)
		return -1;
	if (o->jailer) {
		static const char *const own[] = { "rootfs.img", "config.img", "secrets.img" };
		for (size_t i = 0; i < ARRAY_SIZE(own); i++) {
			_cleanup_free_ char *src = xasprintf("%s/%s", g->dir, own[i]);
			if (stage(root, src, own[i], o, true, err) < 0)
				return -1;
		}
		if (stage(root, kernel, "vmlinux", o, false, err) < 0 ||
		    (cfg->initrd_path && stage(root, cfg->initrd_path, "initrd", o, false, err) < 0))
			return -1;
		_cleanup_free_ char *log = xasprintf("%s/firecracker.log", g->dir);
		if (stage(root, log, "firecracker.log", o, true, err) < 0)
			return -1;
	} else if (cfg->initrd_path) {
		_cleanup_free_ char *dst = xasprintf("%s/initrd", g->dir);
		if (symlink(cfg->initrd_path, dst) < 0)
			return fail_errno(err, "state: %s: %s", dst, strerror(errno));
	}
	for (size_t i = 0; i < cfg->n_volumes; i++) {
		_cleanup_free_ char *src = vm_volume_path(g, &cfg->volumes[i]);
		_cleanup_free_ char *name = xasprintf("vol%zu.img", i);
		_cleanup_free_ char *dst = xasprintf("%s/%s", root, name);
		/* A volume is shared state: the VMM opens the image itself. */
		if (symlink(src, dst) < 0)
			return fail_errno(err, "state: %s: %s", dst, strerror(errno));
	}
	return 0;
}

/* firecracker --api-sock firecracker.sock, or the jailer around it. */
static char **fc_argv(struct guest *g, const char *fc, size_t *n)
{
	const struct hearth_run_options *o = g->opts;
	char **v = xcalloc(32, sizeof(*v));
	size_t i = 0;
	if (o->jailer) {
		v[i++] = xstrdup(o->jailer);
		v[i++] = xstrdup("--id");
		v[i++] = xstrdup(g->name);
		v[i++] = xstrdup("--exec-file");
		v[i++] = xstrdup(fc);
		v[i++] = xstrdup("--uid");
		v[i++] = xasprintf("%u", o->jail_uid);
		v[i++] = xstrdup("--gid");
		v[i++] = xasprintf("%u", o->jail_gid);
		v[i++] = xstrdup("--chroot-base-dir");
		v[i++] = xasprintf("%s/jail", g->dir);
		v[i++] = xstrdup("--cgroup-version");
		v[i++] = xstrdup("2");
		v[i++] = xstrdup("--cgroup");
		v[i++] = xasprintf("memory.max=%llu",
				   (unsigned long long)(g->cfg->memory_mib + JAIL_MEMORY_OVERHEAD_MIB) << 20);
		v[i++] = xstrdup("--cgroup");
		v[i++] = xasprintf("cpu.max=%u 100000", g->cfg->cpus * 100000);
		v[i++] = xstrdup("--");
		v[i++] = xstrdup("--api-sock");
		v[i++] = xstrdup("/firecracker.sock");
	} else {
		v[i++] = xstrdup(fc);
		v[i++] = xstrdup("--api-sock");
		v[i++] = xstrdup("firecracker.sock");
	}
	*n = i;
	return v;
}

static void argv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
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

int fc_launch(struct guest *g, const char *fc, const char *root, char **ret_sock, struct hearth_error **err)
{
	size_t n;
	char **argv = fc_argv(g, fc, &n);
	static const char *const cleanup[] = { "firecracker.sock", "vsock.sock", "rootfs.img", "config.img",
					       "secrets.img", NULL };
	struct monitor_spec spec = { .argv = argv, .dir = g->dir, .cleanup = cleanup, .vmm_name = "firecracker",
				     .cleanup_tree = g->opts->jailer ? "jail" : NULL };
	vm_monitor_bridge(&spec, g);
	int rc = monitor_launch(&spec, err);
	argv_free(argv, n);
	if (rc < 0) {
		hearth_error_prefix(err, "firecracker: start: ");
		return -1;
	}
	struct hearth_record *rec = NULL;
	if (record_read(g->dirfd, &rec, err) < 0) {
		fc_abort(g);
		return -1;
	}
	_cleanup_free_ char *sock = xasprintf("%s/firecracker.sock", root);
	rc = fc_wait_socket(sock, rec->vmm_pid, rec->vmm_start, err);
	hearth_record_free(rec);
	if (rc < 0) {
		fc_abort(g);
		return -1;
	}
	*ret_sock = steal(sock);
	return 0;
}

int fc_prepare(struct guest *g, const char *root, struct hearth_error **err)
{
	const struct hearth_run_options *o = g->opts;
	_cleanup_free_ char *channel = xasprintf("%s/vsock.sock", root);
	if (record_update(g->dirfd, fc_record_start, channel, err) < 0)
		return -1;
	_cleanup_close_ int log = openat(g->dirfd, "firecracker.log", O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (log < 0)
		return fail_errno(err, "state: firecracker.log: %s", strerror(errno));
	if (o->jailer && (mkdir_p(root, 0700) < 0 || chown(root, o->jail_uid, o->jail_gid) < 0))
		return fail_errno(err, "jailer: %s: %s", root, strerror(errno));
	return 0;
}

int fc_check_paths(struct guest *g, const char *fc, char **ret_root, char **ret_kernel, struct hearth_error **err)
{
	const struct hearth_run_options *o = g->opts;
	if (o->jailer && access(o->jailer, X_OK) < 0)
		return fail_invalid(err, "jailer: not an executable (%s)", o->jailer);
	_cleanup_free_ char *data = hearth_data_dir();
	_cleanup_free_ char *kernel = g->cfg->kernel_path ? xstrdup(g->cfg->kernel_path) : xasprintf("%s/vmlinux", data);
	if (access(kernel, R_OK) < 0)
		return fail_invalid(err, "kernel_path: none given and the default kernel is missing (%s)", kernel);
	_cleanup_free_ char *root = fc_root_dir(g, o->jailer ? fc : NULL);
	_cleanup_free_ char *probe = xasprintf("%s/firecracker.sock", root);
	struct sockaddr_un sa;
	if (strlen(probe) >= sizeof(sa.sun_path))
		return fail_invalid(err, "state: path too long for the API socket (%s)", probe);
	*ret_root = steal(root);
	*ret_kernel = steal(kernel);
	return 0;
}

static int fc_start(struct guest *g, struct hearth_error **err)
{
	const struct hearth_run_options *o = g->opts;
	_cleanup_free_ char *fc = fc_binary_or_fail(err);
	_cleanup_free_ char *root = NULL, *kernel = NULL;
	if (!fc || fc_check_paths(g, fc, &root, &kernel, err) < 0)
		return -1;
	if (vm_drives_build(g, err) < 0 || fc_prepare(g, root, err) < 0)
		return -1;
	if (fc_stage_files(g, root, kernel, g->cfg->rootfs_path, err) < 0)
		return -1;
	_cleanup_free_ char *sock = NULL;
	if (fc_launch(g, fc, root, &sock, err) < 0)
		return -1;
	if (configure(g, sock, o->jailer ? "vmlinux" : kernel, err) < 0) {
		fc_abort(g);
		return -1;
	}
	return 0;
}

char *fc_vmm_root(const struct guest *g)
{
	/* The vsock socket, recorded as the guest channel, sits in the
	 * VMM's working directory, jailed or not. */
	if (!g->rec->guest_channel)
		return xstrdup(g->dir);
	_cleanup_free_ char *copy = xstrdup(g->rec->guest_channel);
	return xstrdup(dirname(copy));
}

char *fc_api_sock(const struct guest *g)
{
	_cleanup_free_ char *root = fc_vmm_root(g);
	return xasprintf("%s/firecracker.sock", root);
}

static int fc_request_stop(struct guest *g, struct hearth_error **err)
{
	_cleanup_free_ char *sock = fc_api_sock(g);
	return fc_put(sock, "/actions", json_pack("{s:s}", "action_type", "SendCtrlAltDel"), err);
}

static int fc_force_stop(struct guest *g, struct hearth_error **err)
{
	(void)err;
	/* Firecracker has no quit call: the process is the VM. */
	if (proc_alive(g->rec->vmm_pid, g->rec->vmm_start))
		kill(g->rec->vmm_pid, SIGKILL);
	return 0;
}

int fc_vm_state(const char *sock, const char *state, struct hearth_error **err)
{
	json_t *body = json_pack("{s:s}", "state", state);
	int rc = fc_api(sock, "PATCH", "/vm", body, err);
	json_decref(body);
	return rc;
}

static int fc_pause(struct guest *g, struct hearth_error **err)
{
	_cleanup_free_ char *sock = fc_api_sock(g);
	return fc_vm_state(sock, "Paused", err);
}

static int fc_resume(struct guest *g, struct hearth_error **err)
{
	_cleanup_free_ char *sock = fc_api_sock(g);
	return fc_vm_state(sock, "Resumed", err);
}

static const char *const fc_hypervisor_logs[] = { "hypervisor.log", "firecracker.log", NULL };

const struct hearth_backend_ops firecracker_backend = {
	.name = "firecracker",
	.caps = HEARTH_CAP_PAUSE_RESUME | HEARTH_CAP_SNAPSHOTS | HEARTH_CAP_VSOCK | HEARTH_CAP_TAP_NETWORKING,
	.networks = NET_BRIDGE | NET_NONE,
	.default_network = "bridge",
	.hypervisor_logs = fc_hypervisor_logs,
	.probe = fc_probe,
	.start = fc_start,
	.request_stop = fc_request_stop,
	.force_stop = fc_force_stop,
	.pause = fc_pause,
	.resume = fc_resume,
	.snapshot_create = fc_snapshot_create,
	.snapshot_restore = fc_snapshot_restore,
};
