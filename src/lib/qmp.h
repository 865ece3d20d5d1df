/* A minimal QMP client: one command per connection, JSON by jansson. */
#ifndef HEARTH_QMP_H
#define HEARTH_QMP_H

#include <jansson.h>

#include "util.h"

/* Connects to the QMP socket at PATH, negotiates capabilities, runs
 * COMMAND (with ARGS, may be NULL; the reference is stolen) and stores
 * its "return" value in *RET (may be NULL; json_decref it). */
int qmp_execute(const char *path, const char *command, json_t *args, json_t **ret, struct hearth_error **err) WUR;

/* The same over a connected FD (the caller's to close). */
int qmp_execute_fd(int fd, const char *command, json_t *args, json_t **ret, struct hearth_error **err) WUR;

/* A connection kept for several commands (a snapshot's sequence). */
struct qmp_conn {
	int fd;
	struct strbuf in;
};

/* Connects to PATH and negotiates capabilities. */
int qmp_open(const char *path, struct qmp_conn *c, struct hearth_error **err) WUR;
void qmp_close(struct qmp_conn *c);

/* Runs COMMAND on C (ARGS stolen); *RET as qmp_execute's. */
int qmp_call(struct qmp_conn *c, const char *command, json_t *args, json_t **ret, struct hearth_error **err) WUR;

/* Hands FD to QEMU as NAME ("getfd"), for a later "fd:NAME" URI. */
int qmp_send_fd(struct qmp_conn *c, int fd, const char *name, struct hearth_error **err) WUR;

#endif
