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

void vm_kill(const struct hearth_record *rec)
{
	if (rec->vmm_pid > 0 && proc_alive(rec->vmm_pid, rec->vmm_start))
		kill(rec->vmm_pid, SIGKILL);
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
