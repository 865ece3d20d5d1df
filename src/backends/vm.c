#include <jansson.h>
#include <sys/stat.h>
#include "vm.h"

#include <signal.h>
#include <string.h>
#include <sys/un.h>

#include "lib/monitor.h"
#include "lib/proc.h"

#define VERSION_TIMEOUT_MS 5000

char *vm_program(const struct hearth_ctx *ctx, enum hearth_setting setting, const char *default_name)
{
	const char *set = ctx_get(ctx, setting);
	return proc_find_program(set ? set : default_name);
}

char *vm_kernel(const struct guest *g, struct hearth_error **err)
{
	char *kernel = g->cfg->kernel_path ? xstrdup(g->cfg->kernel_path)
					   : xasprintf("%s/vmlinux", ctx_get(g->ctx, HEARTH_SETTING_DATA_DIR));
	if (access(kernel, R_OK) == 0)
		return kernel;
	if (g->cfg->kernel_path)
		fail_errno(err, "kernel_path: %s (%s)", strerror(errno), kernel);
	else
		fail_invalid(err, "kernel_path: none given and the default kernel is missing (%s)", kernel);
	free(kernel);
	return NULL;
}

char *vm_socket_path(const char *dir, const char *name, struct hearth_error **err)
{
	struct sockaddr_un sa;
	char *path = xasprintf("%s/%s", dir, name);
	if (strlen(path) < sizeof(sa.sun_path))
		return path;
	fail_invalid(err, "state: directory too long for a unix socket path (%s)", path);
	free(path);
	return NULL;
}

char *vm_version_line(const char *prog)
{
	char *argv[] = { (char *)prog, "--version", NULL };
	char *out = NULL;
	if (proc_run(argv, VERSION_TIMEOUT_MS, &out, NULL) != 0 || !out) {
		free(out);
		return NULL;
	}
	out[strcspn(out, "\n")] = '\0';
	return out;
}

void vm_monitor_bridge(struct monitor_spec *spec, const struct guest *g)
{
	if (!g->net)
		return;
	spec->tap = g->net->tap;
	spec->guest_addr = g->net->addr;
	spec->ports = g->cfg->ports;
	spec->n_ports = g->cfg->n_ports;
}

/* Path, size and modification time: enough to tell a file was replaced. */
json_t *vm_file_identity(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return json_null();
	return json_pack("{s:s, s:I, s:I}", "path", path, "size", (json_int_t)st.st_size, "mtime_ns",
			 (json_int_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec);
}

int vm_file_identity_check(json_t *want, const char *what, struct hearth_error **err)
{
	const char *path = json_string_value(json_object_get(want, "path"));
	if (!path)
		return fail_invalid(err, "snapshot: no %s recorded", what);
	json_t *now = vm_file_identity(path);
	bool same = json_equal(now, want);
	json_decref(now);
	if (!same)
		return fail_invalid(err, "snapshot: its %s %s changed or is gone since the snapshot was taken", what,
				    path);
	return 0;
}
