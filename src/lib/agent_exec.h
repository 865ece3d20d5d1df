/* hearth's side of a session of the agent's protocol
 * (docs/agent-protocol.md): one command run over a connected stream. */
#ifndef HEARTH_AGENT_EXEC_H
#define HEARTH_AGENT_EXEC_H

#include "hearth/hearth.h"
#include "util.h"

/* Greets the agent on FD (connected to a session channel), runs EX and
 * pumps its streams until it ends (or, detached, starts). *RET_STATUS as
 * hearth_guest_exec says; -1 until known. */
int agent_exec_run(int fd, const struct hearth_exec *ex, int *ret_status, struct hearth_error **err) WUR;

#endif
