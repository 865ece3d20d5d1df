/* What the VM backends (qemu, firecracker) share: finding their program,
 * kernel and version, checking socket paths, ending a VMM. */
#ifndef HEARTH_VM_H
#define HEARTH_VM_H

#include <jansson.h>

#include "backend.h"

/* The program of SETTING in the guest's context (a path or a name), else
 * DEFAULT_NAME, looked up in PATH. NULL when not found. */
char *vm_program(const struct hearth_ctx *ctx, enum hearth_setting setting, const char *default_name);

/* The kernel G boots: its start configuration's, else vmlinux in the
 * context's data directory. Fails, naming it, when it cannot be read. */
char *vm_kernel(const struct guest *g, struct hearth_error **err);

/* DIR/NAME, which must fit a unix socket address (108 bytes): a state
 * root deep in the file system cannot hold a VMM's sockets. */
char *vm_socket_path(const char *dir, const char *name, struct hearth_error **err);

/* The first line of `PROG --version`, or NULL when it fails. */
char *vm_version_line(const char *prog);

struct monitor_spec;
/* For a bridged guest, has the monitor remove its TAP and proxy its
 * published ports to the guest's address. */
void vm_monitor_bridge(struct monitor_spec *spec, const struct guest *g);


/* PATH's path, size and modification time (JSON null when it is gone):
 * what a snapshot records of the files it rests on (kernel, base image,
 * hypervisor), enough to tell one was replaced. */
json_t *vm_file_identity(const char *path);

/* Fails, naming WHAT, unless the file WANT recorded is as it was. */
int vm_file_identity_check(json_t *want, const char *what, struct hearth_error **err) WUR;

#endif
