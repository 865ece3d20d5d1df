/* The per-guest monitor (like podman's conmon): a small daemon process
 * that owns the hypervisor, keeps the console log, records every status
 * change and cleans up, however the hypervisor ends. */
#ifndef HEARTH_MONITOR_H
#define HEARTH_MONITOR_H

#include "hearth/config.h"
#include "util.h"

#define READY_LINE "hearth-init: ready"
#define EXIT_LINE "hearth-init: exit "

struct monitor_spec {
	char *const *argv;          /* the hypervisor's command */
	const char *dir;            /* the guest's state directory */
	const char *const *cleanup; /* names in DIR removed once it exits */
	const char *cleanup_tree;   /* a directory under DIR removed whole then (the jail), or NULL */
	const char *vmm_name;       /* "qemu", for reasons such as "qemu killed by signal 9" */
	const char *vmm_log;        /* a log file in DIR the VMM writes itself, or NULL: its last
				     * error line goes into the reason when it fails */
	const char *cleanup_cgroup; /* a cgroup removed once it exits (a jail's), or NULL */
	char *const *env;           /* NAME=VALUE added to the hypervisor's environment, or NULL */
	const char *tap;            /* a TAP removed once it exits, or NULL */
	/* Published ports the monitor proxies to GUEST_ADDR (bridged guests). */
	const char *guest_addr;
	const struct hearth_port *ports;
	size_t n_ports;
};
/* The hypervisor runs with DIR as its working directory, so runners that
 * make their sockets "here" make them in the guest's state directory. */

/* The cap of a guest's console log, per generation (two are kept):
 * $HEARTH_CONSOLE_LOG_MAX (bytes, or with K/M/G, at least 4096), else
 * CONSOLE_LOG_MAX_DEFAULT. */
#define CONSOLE_LOG_MAX_DEFAULT (16ULL << 20)
uint64_t console_log_max(void);

/* Starts the monitor, which starts the hypervisor. Returns once the
 * hypervisor has been exec'd (or failed to be, with *err set). The
 * record must exist already; the monitor fills in the pids. */
int monitor_launch(const struct monitor_spec *spec, struct hearth_error **err) WUR;

#endif
