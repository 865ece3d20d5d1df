/* Readiness of guests whose engine supervises them (Docker, Apple's
 * container): read from the container's log, as the guest's probe says. */
#ifndef HEARTH_CONTAINER_READY_H
#define HEARTH_CONTAINER_READY_H

#include <regex.h>

#include "backend.h"

/* Hands the container's log since its start to SINK (nonzero: stop). */
typedef int (*container_log_reader)(struct guest *g, int (*sink)(const char *data, size_t len, void *arg), void *arg);

/* Whether the log since STARTED (the engine's start time) holds the
 * ready line (RE NULL) or a line matching RE; remembered in a marker in
 * the state directory, so a log is read once per start. */
bool container_log_ready(struct guest *g, const char *started, const regex_t *re, container_log_reader read_log);

/* Ready as REC's probe says: the ready line (the default), a log line,
 * at once (none), or once the core's probe passed (tcp, http; exec
 * waits for the ready line too, and sets REC's agent_ready). */
bool container_ready_as_probed(struct guest *g, struct hearth_record *rec, const char *started,
			       container_log_reader read_log);

#endif
