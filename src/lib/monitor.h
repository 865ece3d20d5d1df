/* The per-guest monitor (like podman's conmon): hearth-monitor, a small
 * program of its own (src/monitor/) that libhearth execs for each guest.
 * It owns the hypervisor, keeps the console log, proxies published ports,
 * records every status change and cleans up, however the hypervisor
 * ends. It is handed its monitor_spec as JSON on its standard input and
 * answers "ok" or an error on fd 3 once the hypervisor runs. */
#ifndef HEARTH_MONITOR_H
#define HEARTH_MONITOR_H

#include <jansson.h>

#include "hearth/config.h"
#include "hearth/context.h"
#include "util.h"

struct monitor_spec {
	char *const *argv;	    /* the hypervisor's command */
	const char *dir;	    /* the guest's state directory */
	const char *const *cleanup; /* names in DIR removed once it exits */
	const char *cleanup_tree;   /* a directory under DIR removed whole then (the jail), or NULL */
	const char *vmm_name;	    /* "qemu", for reasons such as "qemu killed by signal 9" */
	const char *vmm_log;	    /* a log file in DIR the VMM writes itself, or NULL: its last
				     * error line goes into the reason when it fails */
	const char *cleanup_cgroup; /* a cgroup removed once it exits (a jail's), or NULL */
	char *const *env;	    /* NAME=VALUE added to the hypervisor's environment, or NULL */
	const char *tap;	    /* a TAP removed once it exits, or NULL */
	/* Published ports the monitor proxies to GUEST_ADDR (bridged guests). */
	const char *guest_addr;
	const struct hearth_port *ports;
	size_t n_ports;
	uint64_t console_max; /* bytes per console log generation; filled by monitor_launch */
};
/* The hypervisor runs with DIR as its working directory, so runners that
 * make their sockets "here" make them in the guest's state directory. */

/* The workload's exit code in a console LINE that carries the
 * contract's exit line ("hearth-init: exit 3"), else -1. */
int monitor_exit_code(const char *line);

/* The spec as the JSON monitor_launch hands over (malloc'd), and back:
 * *RET's strings and arrays live as long as *RET_JSON (json_decref it). */
char *monitor_spec_to_json(const struct monitor_spec *spec);
int monitor_spec_parse(const char *text, struct monitor_spec *ret, json_t **ret_json, struct hearth_error **err) WUR;
/* Frees what monitor_spec_parse made. */
void monitor_spec_release(struct monitor_spec *spec, json_t *json);

/* Starts the monitor, which starts the hypervisor. Returns once the
 * hypervisor has been exec'd (or failed to be, with *err set). The
 * record must exist already; the monitor fills in the pids. */
int monitor_launch(const struct hearth_ctx *ctx, const struct monitor_spec *spec, struct hearth_error **err) WUR;

#endif
