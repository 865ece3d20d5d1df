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

#endif
