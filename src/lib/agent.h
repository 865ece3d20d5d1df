/* hearth's side of hearth-init's agent channel: a line out, a line back.
 * The channel is the guest's recorded guest_channel: a unix socket that
 * reaches the agent directly (QEMU's virtio-serial port, a container's
 * bind-mounted socket) or, for a guest with a vsock CID, Firecracker's
 * vsock UDS, where "CONNECT <port>\n" picks hearth-init's port first. */
#ifndef HEARTH_AGENT_H
#define HEARTH_AGENT_H

#include "hearth/hearth.h"
#include "record.h"
#include "util.h"

/* Sends CMD ("ping", "poweroff") to REC's agent. With RET_REPLY, waits
 * for one reply line (without its newline). Bounded: a guest that does
 * not answer is an error within a few seconds, never a hang. */
int agent_request(const struct hearth_record *rec, const char *cmd, char **ret_reply, struct hearth_error **err) WUR;

/* A unix socket connected to PATH; a path under /proc/PID/root/ is
 * resolved inside that root (the guest's own), never on the host. */
int agent_connect(const char *path, struct hearth_error **err) WUR;

/* On FD, connected to Firecracker's vsock socket: asks for guest PORT. */
int agent_vsock_connect(int fd, int port, struct hearth_error **err) WUR;

/* The exchange itself over a connected FD (the caller's to close). */
int agent_exchange(int fd, const struct hearth_record *rec, const char *cmd, char **ret_reply,
		   struct hearth_error **err) WUR;

#endif
