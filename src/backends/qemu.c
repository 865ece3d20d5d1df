/* The QEMU backend: qemu-system-x86_64 -M microvm, direct kernel boot,
 * virtio-mmio drives, user-mode networking with one hostfwd per port,
 * QMP for pause/resume/quit, a virtio-serial agent port for a clean stop. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/utsname.h>

#include "backend.h"
#include "qemu_accel.h"
#include "hearth/agent_proto.h"
#include "lib/agent.h"
#include "vm.h"
#include "vm_drives.h"
#include "lib/monitor.h"
#include "lib/proc.h"
#include "lib/qmp.h"
#include "lib/state.h"

#define GUEST_IP "10.0.2.15/24"
#define GUEST_GW "10.0.2.2"

static char *qemu_binary(const struct hearth_ctx *ctx)
{
	return vm_program(ctx, HEARTH_SETTING_QEMU, "qemu-system-x86_64");
}

const char *qemu_accel_for_host(struct hearth_ctx *ctx, char **ret_why)
{
	_cleanup_free_ char *qemu = qemu_binary(ctx);
	if (!qemu) {
		*ret_why = xstrdup("tcg (no qemu-system-x86_64 to probe KVM with)");
		return "tcg";
	}
	return qemu_accel(ctx, qemu, false, ret_why);
}

static void qemu_probe(struct hearth_ctx *ctx, struct hearth_backend_info *info, bool full)
{
	_cleanup_free_ char *qemu = qemu_binary(ctx);
	if (!qemu) {
		info->reason = xstrdup("qemu-system-x86_64 not found (apt-get install qemu-system-x86)");
		return;
	}
	if (full) {
		_cleanup_free_ char *out = vm_version_line(qemu);
		if (!out) {
			info->reason = xasprintf("%s --version failed", qemu);
			return;
		}
		const char *v = strstr(out, "version ");
		info->version = xstrdup(v ? v + 8 : out);
	}
	_cleanup_free_ char *why = NULL;
	qemu_accel(ctx, qemu, full, &why); /* `hearth backends` waits for the probe; a start does not */
	info->available = true;
	info->reason = xasprintf("%s, accel %s", qemu, why);
}

/* QEMU option values escape ',' by doubling it. */
static char *qemu_escape(const char *s)
{
	struct strbuf sb = { 0 };
	strbuf_append(&sb, "", 0);
	for (; *s; s++) {
		if (*s == ',')
			strbuf_append(&sb, ",,", 2);
		else
			strbuf_append(&sb, s, 1);
	}
	return sb.buf;
}

/* ID names the drive; SERIAL is what the guest sees, or NULL. */
static void add_drive(struct strv *a, const char *id, const char *serial, const char *path, bool read_only,
		      const char *extra)
{
	_cleanup_free_ char *file = qemu_escape(path);
	strv_add(a, xstrdup("-drive"));
	strv_add(a, xasprintf("id=%s,file=%s,if=none%s%s", id, file, read_only ? ",readonly=on" : "",
			      extra ? extra : ",format=raw"));
	strv_add(a, xstrdup("-device"));
	strv_add(a, serial ? xasprintf("virtio-blk-device,drive=%s,serial=%s", id, serial)
			   : xasprintf("virtio-blk-device,drive=%s", id));
}

void qemu_build_argv(const struct guest *g, const struct qemu_plan *plan, struct strv *a)
{
	const struct hearth_config *cfg = g->cfg;
	bool kvm = strcmp(plan->accel, "kvm") == 0;
	strv_add(a, xstrdup(plan->qemu));
	strv_add(a, xstrdup("-M"));
	strv_add(a, xstrdup(QEMU_MACHINE ",memory-backend=ram"));
	strv_add(a, xstrdup("-accel"));
	strv_add(a, xstrdup(plan->accel));
	strv_add(a, xstrdup("-cpu"));
	strv_add(a, xstrdup(kvm ? "host" : "max"));
	strv_add(a, xstrdup("-smp"));
	strv_add(a, xasprintf("%u", cfg->cpus));
	strv_add(a, xstrdup("-m"));
	strv_add(a, xasprintf("%u", cfg->memory_mib));
	/* RAM in a memfd QEMU maps shared, so a snapshot copies it out while
	 * the VM is paused and the migration stream carries device state only
	 * (x-ignore-shared); a restore maps the snapshot's memory file
	 * private: copy-on-write, every clone sharing the pages it has not
	 * written. */
	strv_add(a, xstrdup("-object"));
	if (plan->restore) {
		_cleanup_free_ char *mem = xasprintf("%s/" QEMU_SNAP_MEMORY, plan->restore);
		_cleanup_free_ char *esc = qemu_escape(mem);
		strv_add(a, xasprintf("memory-backend-file,id=ram,size=%uM,mem-path=%s,share=off", cfg->memory_mib, esc));
	} else {
		strv_add(a, xasprintf("memory-backend-memfd,id=ram,size=%uM,share=on", cfg->memory_mib));
	}
	strv_add(a, xstrdup("-nodefaults"));
	strv_add(a, xstrdup("-no-user-config"));
	strv_add(a, xstrdup("-nographic"));
	strv_add(a, xstrdup("-no-reboot")); /* hearth-init powers off by reset */
	strv_add(a, xstrdup("-kernel"));
	strv_add(a, xstrdup(plan->kernel));
	if (cfg->initrd_path) {
		strv_add(a, xstrdup("-initrd"));
		strv_add(a, xstrdup(cfg->initrd_path));
	}
	/* No "--" here: microvm appends its virtio_mmio.device= list after
	 * -append, and the kernel ignores parameters past a "--". */
	strv_add(a, xstrdup("-append"));
	struct strbuf cmdline = { 0 };
	/* no_timer_check: a vCPU starved by a busy host (TCG above all) can
	 * miss the IO-APIC timer test, and the kernel panics at 0.02 s in
	 * setup_IO_APIC (3 boots in 1000 of bench/soak.sh at load 12). */
	strbuf_printf(&cmdline,
		      "console=ttyS0 reboot=t panic=-1 quiet no_timer_check root=/dev/vda rw " HEARTH_PARAM_NAME "=%s",
		      g->name);
	if (cfg->image) /* hearth-init at the path reserved in an image's rootfs */
		strbuf_printf(&cmdline, " init=" HEARTH_IMAGE_INIT);
	if (g->hold)
		strbuf_printf(&cmdline, " " HEARTH_PARAM_HOLD "=1");
	if (g->rec->guest_ip)
		strbuf_printf(&cmdline, " " HEARTH_PARAM_IP "=%s " HEARTH_PARAM_GW "=%s", g->rec->guest_ip,
			      g->rec->gateway);
	strv_add(a, cmdline.buf);
	strv_add(a, xstrdup("-serial"));
	strv_add(a, xstrdup("stdio"));
	/* The image is shared by every guest started from it: writes go to
	 * a throw-away overlay, like a container's writable layer; or, for a
	 * persistent guest, to its own copy (qemu_start makes it once). */
	_cleanup_free_ char *disk = xasprintf("%s/" VM_PERSISTENT_DISK, g->dir);
	_cleanup_free_ char *overlay = xasprintf("%s/" QEMU_OVERLAY, g->dir);
	if (hearth_config_persistent(cfg))
		add_drive(a, "root", NULL, disk, false, ",format=raw");
	else if (plan->overlay)
		add_drive(a, "root", NULL, overlay, false, ",format=qcow2");
	else
		add_drive(a, "root", NULL, cfg->rootfs_path, false, ",format=raw,snapshot=on");
	_cleanup_free_ char *cimg = xasprintf("%s/config.img", g->dir);
	_cleanup_free_ char *simg = xasprintf("%s/secrets.img", g->dir);
	add_drive(a, "config", NULL, cimg, true, NULL);
	add_drive(a, "secrets", NULL, simg, true, NULL);
	for (size_t i = 0; i < cfg->n_volumes; i++) {
		char id[32];
		snprintf(id, sizeof(id), "vol%zu", i);
		char serial[HEARTH_VOLUME_SERIAL_MAX];
		hearth_volume_serial(i, serial);
		_cleanup_free_ char *path = vm_volume_path(g, &cfg->volumes[i]);
		add_drive(a, id, serial, path, cfg->volumes[i].read_only, NULL);
	}
	if (g->net) {
		/* hearth's bridge: the TAP is made already; the monitor proxies ports. */
		strv_add(a, xstrdup("-netdev"));
		strv_add(a, xasprintf("tap,id=net0,ifname=%s,script=no,downscript=no", g->net->tap));
		strv_add(a, xstrdup("-device"));
		strv_add(a, xasprintf("virtio-net-device,netdev=net0,mac=%s", g->net->mac));
	} else if (strcmp(g->rec->network, "user") == 0) {
		struct strbuf net = { 0 };
		strbuf_printf(&net, "user,id=net0");
		for (size_t i = 0; i < cfg->n_ports; i++) {
			const struct hearth_port *p = &cfg->ports[i];
			strbuf_printf(&net, ",hostfwd=%s:%s:%u-:%u", p->protocol == HEARTH_PROTO_UDP ? "udp" : "tcp",
				      p->host_addr ? p->host_addr : "127.0.0.1", p->host, p->guest);
		}
		strv_add(a, xstrdup("-netdev"));
		strv_add(a, net.buf);
		strv_add(a, xstrdup("-device"));
		strv_add(a, xstrdup("virtio-net-device,netdev=net0"));
	}
	_cleanup_free_ char *agent = qemu_escape(g->dir);
	strv_add(a, xstrdup("-device"));
	strv_add(a, xstrdup("virtio-serial-device"));
	strv_add(a, xstrdup("-chardev"));
	strv_add(a, xasprintf("socket,id=agent,path=%s/agent.sock,server=on,wait=off", agent));
	strv_add(a, xstrdup("-device"));
	strv_add(a, xstrdup("virtserialport,chardev=agent,name=" HEARTH_AGENT_PORT_NAME));
	/* The agent's session streams: a port each, one host client each. */
	for (int i = 0; i < AP_SESSION_PORTS; i++) {
		strv_add(a, xstrdup("-chardev"));
		strv_add(a, xasprintf("socket,id=session%d,path=%s/session-%d.sock,server=on,wait=off", i, agent, i));
		strv_add(a, xstrdup("-device"));
		strv_add(a, xasprintf("virtserialport,chardev=session%d,name=" AP_SESSION_PORT_PREFIX "%d", i, i));
	}
	strv_add(a, xstrdup("-qmp"));
	strv_add(a, xasprintf("unix:%s/qmp.sock,server=on,wait=off", agent));
	if (plan->restore) { /* the state comes through QMP, once it is told where */
		strv_add(a, xstrdup("-incoming"));
		strv_add(a, xstrdup("defer"));
	}
}

struct start_facts {
	const char *accel;
	char *channel;
};

static void record_start(struct hearth_record *rec, void *arg)
{
	const struct start_facts *f = arg;
	const char *accel = f->accel;
	free(rec->guest_channel);
	rec->guest_channel = xstrdup(f->channel);
	free(rec->accel);
	rec->accel = xstrdup(accel);
	if (rec->network && strcmp(rec->network, "user") == 0) {
		free(rec->guest_ip);
		rec->guest_ip = xstrdup(GUEST_IP);
		free(rec->gateway);
		rec->gateway = xstrdup(GUEST_GW);
	}
}

/* A non-persistent guest writes to its own qcow2 overlay of the image
 * (or of a snapshot's overlay), made fresh at every start and removed
 * when QEMU exits: a container's writable layer, in a file a snapshot can
 * copy. Without qemu-img, QEMU's snapshot=on (no snapshots then).
 * Returns 1 with an overlay, 0 without, -1 on error. */
static int qemu_overlay(struct guest *g, const char *restore, struct hearth_error **err)
{
	if (hearth_config_persistent(g->cfg))
		return 0;
	_cleanup_free_ char *img = proc_find_program("qemu-img");
	if (!img) {
		if (restore)
			return fail_runtime(err, "qemu: a restore needs qemu-img (apt-get install qemu-utils)");
		return 0;
	}
	_cleanup_free_ char *base = restore ? xasprintf("%s/" QEMU_SNAP_OVERLAY, restore) : xstrdup(g->cfg->rootfs_path);
	_cleanup_free_ char *path = xasprintf("%s/" QEMU_OVERLAY, g->dir);
	unlinkat(g->dirfd, QEMU_OVERLAY, 0); /* a stopped guest's, left by a QEMU killed outright */
	char *argv[] = { img, "create", "-q", "-f", "qcow2", "-F", restore ? "qcow2" : "raw", "-b", base, path, NULL };
	_cleanup_free_ char *out = NULL;
	int rc = proc_run(argv, 30000, &out, err);
	if (rc < 0)
		return -1;
	if (rc != 0) {
		if (out)
			out[strcspn(out, "\n")] = '\0';
		return fail_runtime(err, "qemu-img create %s: %s", path, out && *out ? out : "failed");
	}
	return 1;
}

int qemu_launch(struct guest *g, const char *restore, struct hearth_error **err)
{
	_cleanup_free_ char *qemu = qemu_binary(g->ctx);
	if (!qemu)
		return fail_runtime(err, "qemu: qemu-system-x86_64 not found (apt-get install qemu-system-x86)");
	_cleanup_free_ char *kernel = vm_kernel(g, err);
	_cleanup_free_ char *channel = kernel ? vm_socket_path(g->dir, "agent.sock", err) : NULL;
	if (!channel)
		return -1;
	_cleanup_free_ char *why = NULL;
	const char *accel = qemu_accel(g->ctx, qemu, false, &why);
	struct start_facts facts = { accel, channel };
	int overlay;
	if (vm_persistent_disk(g, VM_PERSISTENT_DISK, err) < 0 || (overlay = qemu_overlay(g, restore, err)) < 0 ||
	    record_update(g->dirfd, record_start, &facts, err) < 0)
		return -1;
	record_free(g->rec);
	g->rec = NULL;
	if (record_read(g->dirfd, &g->rec, err) < 0)
		return -1;
	struct strv a = { 0 };
	struct qemu_plan plan = { qemu, accel, kernel, overlay == 1, restore };
	qemu_build_argv(g, &plan, &a);
	static const char *const cleanup[] = { "qmp.sock",
					       "agent.sock",
					       "secrets.img",
					       "config.img",
					       QEMU_OVERLAY,
					       "session-0.sock",
					       "session-1.sock",
					       "session-2.sock",
					       "session-3.sock",
					       "session-4.sock",
					       "session-5.sock",
					       "session-6.sock",
					       "session-7.sock",
					       NULL };
	/* snapshot=on keeps the rootfs's writes in a temporary file that
	 * QEMU deletes on a clean exit only: in the guest's own directory, a
	 * QEMU killed outright leaves it where rm finds it, not in /var/tmp. */
	_cleanup_free_ char *tmpdir = xasprintf("TMPDIR=%s", g->dir);
	char *env[] = { tmpdir, NULL };
	struct monitor_spec spec = { .argv = a.v, .dir = g->dir, .cleanup = cleanup, .vmm_name = "qemu", .env = env };
	vm_monitor_bridge(&spec, g);
	int rc = monitor_launch(g->ctx, &spec, err);
	strv_free(&a);
	if (rc < 0)
		hearth_error_prefix(err, "qemu: start: ");
	return rc;
}

static int qemu_start(struct guest *g, struct hearth_error **err)
{
	if (vm_drives_build(g, err) < 0)
		return -1;
	return qemu_launch(g, NULL, err);
}

static char *sock_path(struct guest *g, const char *name)
{
	return xasprintf("%s/%s", g->dir, name);
}

static int qemu_request_stop(struct guest *g, struct hearth_error **err)
{
	return agent_request(g->rec, "poweroff", NULL, err);
}

static int qmp_simple(struct guest *g, const char *cmd, struct hearth_error **err)
{
	_cleanup_free_ char *path = sock_path(g, "qmp.sock");
	if (qmp_execute(path, cmd, NULL, NULL, err) < 0) {
		hearth_error_prefix(err, "qemu: ");
		return -1;
	}
	return 0;
}

static int qemu_force_stop(struct guest *g, struct hearth_error **err)
{
	return qmp_simple(g, "quit", err);
}

static int qemu_pause(struct guest *g, struct hearth_error **err)
{
	return qmp_simple(g, "stop", err);
}

static int qemu_resume(struct guest *g, struct hearth_error **err)
{
	return qmp_simple(g, "cont", err);
}

/* A free session port: its lock taken, its socket connected. */
static int qemu_session_open(struct guest *g, int *ret_lock, struct hearth_error **err)
{
	for (int i = 0; i < AP_SESSION_PORTS; i++) {
		_cleanup_free_ char *lock_name = xasprintf("session-%d.lock", i);
		int lock = openat(g->dirfd, lock_name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (lock < 0)
			return fail_errno(err, "exec: %s: %s", lock_name, strerror(errno));
		if (flock(lock, LOCK_EX | LOCK_NB) < 0) {
			close(lock);
			continue;
		}
		_cleanup_free_ char *path = xasprintf("%s/session-%d.sock", g->dir, i);
		struct hearth_error *e = NULL;
		int fd = agent_connect(path, &e);
		if (fd < 0) {
			close(lock);
			if (e->code == ENOENT) {
				free(e->message);
				e->message = xstrdup("exec: the guest has no session ports (started by an older "
						     "hearth: restart it)");
			}
			hearth_error_pass(err, e);
			return -1;
		}
		*ret_lock = lock;
		return fd;
	}
	return fail_conflict(err, "exec: all %d session ports are in use", AP_SESSION_PORTS);
}

const struct hearth_backend_ops qemu_backend = {
	.name = "qemu",
	.caps = HEARTH_CAP_PAUSE_RESUME | HEARTH_CAP_SNAPSHOTS | HEARTH_CAP_TAP_NETWORKING | HEARTH_CAP_TEMPLATES,
	.networks = NET_USER | NET_BRIDGE | NET_NONE,
	.default_network = "user",
	.probe = qemu_probe,
	.start = qemu_start,
	.request_stop = qemu_request_stop,
	.force_stop = qemu_force_stop,
	.pause = qemu_pause,
	.resume = qemu_resume,
	.session_open = qemu_session_open,
	.snapshot_create = qemu_snapshot_create,
	.snapshot_restore = qemu_snapshot_restore,
};
