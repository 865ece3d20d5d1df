/* The Firecracker backend: the firecracker binary (optionally under its
 * jailer) started by the monitor with --api-sock in the guest's state
 * directory, then configured over that socket with libcurl: logger,
 * boot-source, machine-config, drives, network-interfaces, vsock,
 * InstanceStart. Every body is made for the release that reads it (its
 * --version, read once per start). Every path handed to the API is
 * relative to the VMM's working directory (the state directory, or the
 * jail's root), so a snapshot restores in another directory. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "hearth/agent_proto.h"
#include "lib/agent.h"
#include "firecracker.h"
#include "lib/http.h"
#include "lib/proc.h"
#include "lib/state.h"
#include "vm.h"
#include "vm_drives.h"

#define API_TIMEOUT_MS 30000

char *fc_binary(const struct hearth_ctx *ctx)
{
	return vm_program(ctx, HEARTH_SETTING_FIRECRACKER, "firecracker");
}

char *fc_binary_or_fail(const struct hearth_ctx *ctx, struct hearth_error **err)
{
	char *fc = fc_binary(ctx);
	if (!fc)
		fail_runtime(err, "firecracker: not found (give --firecracker or HEARTH_FIRECRACKER)");
	return fc;
}

/* One number of a version, at most 5 digits (sscanf's %u would wrap). */
static const char *version_part(const char *p, unsigned *ret)
{
	size_t n = strspn(p, "0123456789");
	if (n == 0 || n > 5)
		return NULL;
	*ret = 0;
	for (size_t i = 0; i < n; i++)
		*ret = *ret * 10 + (unsigned)(p[i] - '0');
	return p + n;
}

int fc_version_parse(const char *text, struct fc_version *v)
{
	const char *p = text ? strstr(text, "Firecracker v") : NULL;
	if (!p)
		return -1;
	p += strlen("Firecracker v");
	if (!(p = version_part(p, &v->major)) || *p++ != '.' || !(p = version_part(p, &v->minor)) || *p++ != '.' ||
	    !(p = version_part(p, &v->patch)))
		return -1;
	return *p == '\0' || strchr("\n- \r", *p) ? 0 : -1;
}

int fc_version_of(const char *fc, struct fc_version *v, struct hearth_error **err)
{
	_cleanup_free_ char *out = vm_version_line(fc);
	if (!out || fc_version_parse(out, v) < 0)
		return fail_runtime(err, "firecracker: %s --version: not a Firecracker version (%s)", fc,
				    out && *out ? out : "it failed or printed nothing");
	return 0;
}

bool fc_version_at_least(const struct fc_version *v, unsigned major, unsigned minor)
{
	return v->major > major || (v->major == major && v->minor >= minor);
}

static void fc_probe(struct hearth_ctx *ctx, struct hearth_backend_info *info, bool full)
{
	_cleanup_free_ char *fc = fc_binary(ctx);
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
		struct fc_version v;
		struct hearth_error *e = NULL;
		if (fc_version_of(fc, &v, &e) < 0) {
			info->reason = xstrdup(e->message);
			hearth_error_free(e);
			return;
		}
		info->version = xasprintf("%u.%u.%u", v.major, v.minor, v.patch);
	}
	info->available = true;
	info->reason = xasprintf("%s, /dev/kvm", fc);
}

bool fc_id_valid(const char *id)
{
	if (!*id)
		return false;
	for (const char *p = id; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	return true;
}

json_t *fc_body_logger(const struct fc_version *v)
{
	(void)v; /* log_path and level are the same from 1.0 on */
	return json_pack("{s:s, s:s}", "log_path", "firecracker.log", "level", "Info");
}

json_t *fc_body_drive(const char *id, const char *path, bool root, bool read_only)
{
	return json_pack("{s:s, s:s, s:b, s:b}", "drive_id", id, "path_on_host", path, "is_root_device", root,
			 "is_read_only", read_only);
}

json_t *fc_body_vsock(const struct fc_version *v, int cid)
{
	/* vsock_id has been optional and deprecated since 1.0: not sent. */
	(void)v;
	return json_pack("{s:i, s:s}", "guest_cid", cid, "uds_path", "vsock.sock");
}

/* One API call; a non-2xx answer becomes an error with Firecracker's
 * fault message and the request that caused it. */
int fc_api(const char *sock, const char *method, const char *path, json_t *body, struct hearth_error **err)
{
	struct http_request req = { .socket_path = sock,
				    .method = method,
				    .path = path,
				    .body = body,
				    .upload_fd = -1,
				    .timeout_ms = API_TIMEOUT_MS };
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

int fc_put_logger(const char *sock, const struct fc_version *v, struct hearth_error **err)
{
	/* The file exists already: Firecracker 1.4 does not create it. */
	return fc_put(sock, "/logger", fc_body_logger(v), err);
}

static char *boot_args(const struct guest *g)
{
	struct strbuf sb = { 0 };
	/* reboot=k: hearth-init's power-off resets through the i8042, which
	 * makes Firecracker exit. pci=off: Firecracker has no PCI bus. */
	strbuf_printf(&sb, "console=ttyS0 reboot=k panic=1 pci=off quiet root=/dev/vda rw " HEARTH_PARAM_NAME "=%s",
		      g->name);
	if (g->cfg->image) /* hearth-init at the path reserved in an image's rootfs */
		strbuf_printf(&sb, " init=" HEARTH_IMAGE_INIT);
	if (g->net)
		strbuf_printf(&sb, " " HEARTH_PARAM_IP "=%s " HEARTH_PARAM_GW "=%s", g->net->cidr, g->net->gateway);
	return sb.buf;
}

static void plan_add(struct fc_plan *plan, char *path, json_t *body)
{
	plan->req = xrealloc(plan->req, (plan->n + 1) * sizeof(*plan->req));
	plan->req[plan->n++] = (struct fc_request){ path, body };
}

static void plan_drive(struct fc_plan *plan, const char *id, const char *path, bool root, bool ro)
{
	plan_add(plan, xasprintf("/drives/%s", id), fc_body_drive(id, path, root, ro));
}

void fc_plan_build(const struct guest *g, const struct fc_version *v, const char *kernel, struct fc_plan *plan)
{
	const struct hearth_config *cfg = g->cfg;
	*plan = (struct fc_plan){ 0 };
	/* The log file exists already: Firecracker 1.4 does not create it. */
	plan_add(plan, xstrdup("/logger"), fc_body_logger(v));
	_cleanup_free_ char *args = boot_args(g);
	json_t *boot = json_pack("{s:s, s:s}", "kernel_image_path", kernel, "boot_args", args);
	if (cfg->initrd_path)
		json_object_set_new(boot, "initrd_path", json_string("initrd"));
	plan_add(plan, xstrdup("/boot-source"), boot);
	plan_add(plan, xstrdup("/machine-config"),
		 json_pack("{s:i, s:i}", "vcpu_count", (int)cfg->cpus, "mem_size_mib", (int)cfg->memory_mib));
	plan_drive(plan, FC_DRIVE_ROOT, "rootfs.img", true, false);
	plan_drive(plan, FC_DRIVE_CONFIG, "config.img", false, true);
	plan_drive(plan, FC_DRIVE_SECRETS, "secrets.img", false, true);
	for (size_t i = 0; i < cfg->n_volumes; i++) {
		char id[HEARTH_VOLUME_SERIAL_MAX];
		hearth_volume_serial(i, id);
		_cleanup_free_ char *file = xasprintf("vol%zu.img", i);
		plan_drive(plan, id, file, false, cfg->volumes[i].read_only);
	}
	if (g->net)
		plan_add(plan, xstrdup("/network-interfaces/" FC_IFACE),
			 json_pack("{s:s, s:s, s:s}", "iface_id", FC_IFACE, "host_dev_name", g->net->tap, "guest_mac",
				   g->net->mac));
	plan_add(plan, xstrdup("/vsock"), fc_body_vsock(v, fc_guest_cid(g->rec)));
	plan_add(plan, xstrdup("/actions"), json_pack("{s:s}", "action_type", "InstanceStart"));
}

void fc_plan_release(struct fc_plan *plan)
{
	for (size_t i = 0; i < plan->n; i++) {
		free(plan->req[i].path);
		json_decref(plan->req[i].body);
	}
	free(plan->req);
	*plan = (struct fc_plan){ 0 };
}

/* The whole pre-boot configuration, then InstanceStart. */
static int configure(struct guest *g, const struct fc_version *v, const char *sock, const char *kernel,
		     struct hearth_error **err)
{
	struct fc_plan plan;
	fc_plan_build(g, v, kernel, &plan);
	int rc = 0;
	for (size_t i = 0; i < plan.n && rc == 0; i++)
		rc = fc_api(sock, "PUT", plan.req[i].path, plan.req[i].body, err);
	fc_plan_release(&plan);
	return rc;
}

int fc_guest_cid(const struct hearth_record *rec)
{
	return 3 + (rec->net_slot >= 0 ? rec->net_slot : 0);
}

static int fc_start(struct guest *g, struct hearth_error **err)
{
	const struct hearth_run_options *o = g->opts;
	_cleanup_free_ char *fc = fc_binary_or_fail(g->ctx, err);
	_cleanup_free_ char *root = NULL, *kernel = NULL;
	struct fc_version v;
	if (!fc || fc_version_of(fc, &v, err) < 0 || fc_check_paths(g, fc, &root, &kernel, err) < 0)
		return -1;
	if (vm_drives_build(g, err) < 0 || fc_prepare(g, root, err) < 0)
		return -1;
	if (fc_stage_files(g, root, kernel, g->cfg->rootfs_path, err) < 0)
		return -1;
	_cleanup_free_ char *sock = NULL;
	if (fc_launch(g, fc, root, &sock, err) < 0)
		return -1;
	if (configure(g, &v, sock, o->jailer ? "vmlinux" : kernel, err) < 0) {
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
	char *slash = strrchr(copy, '/');
	if (slash)
		*slash = '\0';
	return steal(copy);
}

char *fc_api_sock(const struct guest *g)
{
	_cleanup_free_ char *root = fc_vmm_root(g);
	return xasprintf("%s/firecracker.sock", root);
}

/* hearth-init's agent first (a clean power-off through vsock), then
 * Ctrl-Alt-Del for a guest without one. */
static int fc_request_stop(struct guest *g, struct hearth_error **err)
{
	if (agent_request(g->rec, "poweroff", NULL, NULL) == 0)
		return 0;
	_cleanup_free_ char *sock = fc_api_sock(g);
	return fc_put(sock, "/actions", json_pack("{s:s}", "action_type", "SendCtrlAltDel"), err);
}

static int fc_force_stop(struct guest *g, struct hearth_error **err)
{
	(void)err;
	record_kill_vmm(g->rec); /* Firecracker has no quit call: the process is the VM */
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

/* Sessions over vsock: the VMM's socket, then "CONNECT 53". */
static int fc_session_open(struct guest *g, int *ret_lock, struct hearth_error **err)
{
	(void)ret_lock;
	int fd = agent_connect(g->rec->guest_channel, err);
	if (fd >= 0 && agent_vsock_connect(fd, AP_SESSION_VSOCK_PORT, err) < 0) {
		close(fd);
		hearth_error_prefix(err, "exec: ");
		return -1;
	}
	return fd;
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
	.session_open = fc_session_open,
	.remove = fc_remove,
	.snapshot_create = fc_snapshot_create,
	.snapshot_restore = fc_snapshot_restore,
};
