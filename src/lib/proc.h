/* Processes: identity that survives pid reuse, and running helpers. */
#ifndef HEARTH_PROC_H
#define HEARTH_PROC_H

#include <stdint.h>
#include <sys/types.h>

#include "util.h"

/* Start time of PID: on Linux clock ticks since boot (field 22 of
 * /proc/PID/stat), or 0 when there is no such process. */
uint64_t proc_start_time(pid_t pid);

/* True when PID exists and started at START, so it is the same process
 * that was recorded, not a later one given the same pid. */
bool proc_alive(pid_t pid, uint64_t start);

/* Runs ARGV (PATH searched), stdin from /dev/null, stdout and stderr
 * collected into *RET_OUTPUT (may be NULL). Kills it after TIMEOUT_MS
 * (0: no limit). Returns the exit status (>= 0, 128+signal when killed)
 * or -1 with *err set when it could not be run. */
int proc_run(char *const argv[], int timeout_ms, char **ret_output, struct hearth_error **err) WUR;

/* proc_run, with HOOK(ARG) run in the child just before the exec; a
 * hook that fails prints why to stderr and returns -1. */
int proc_run_hook(char *const argv[], int timeout_ms, char **ret_output, int (*hook)(void *arg), void *arg,
		  struct hearth_error **err) WUR;

/* Locates PROG on PATH; returns a malloc'd absolute path or NULL. */
char *proc_find_program(const char *prog);

#endif
