/* hearth-init's side of the agent's session protocol
 * (docs/agent-protocol.md): streams from the host, commands run for
 * them with their standard streams, terminal, signals and exit status. */
#ifndef HEARTH_GUEST_SESSIONS_H
#define HEARTH_GUEST_SESSIONS_H

#include <poll.h>
#include <stdbool.h>
#include <sys/types.h>

/* Enough pollfds for every listener, stream and command output. */
#define SESSIONS_POLLFDS 160

/* Opens the session channel: the virtio-serial session ports and vsock
 * port 53 in a VM, the unix socket in a container. BASE_ENV is the
 * environment every command starts from (NULL-terminated, kept). */
void sessions_init(bool in_container, char **base_env);

/* Fills P (at most MAX) with what the sessions wait for; returns how many. */
int sessions_pollfds(struct pollfd *p, int max);

/* A session port's SIGIO came: a host may have connected. */
void sessions_wake(void);

/* How long the main loop may sleep for the sessions' sake (ms, -1: no
 * limit): a session port with no host is looked at again after a while. */
int sessions_timeout_ms(void);

/* Acts on the events in P[0..N), as filled by sessions_pollfds. */
void sessions_dispatch(struct pollfd *p, int n);

/* Tells the sessions that child PID ended with STATUS (from waitpid);
 * false when PID is none of theirs. */
bool sessions_reaped(pid_t pid, int status);

/* The stream layer for the fuzzer: feeds BYTES as a stream's input and
 * returns how many frames it acted on, or -1 once the stream ended. */
int sessions_feed_for_test(const void *bytes, size_t len);

#endif
