/* The frames of the agent's session protocol (docs/agent-protocol.md),
 * shared by hearth (src/lib) and hearth-init (guest/): one reader, one
 * writer of headers, no allocation. */
#ifndef HEARTH_AGENT_PROTO_H
#define HEARTH_AGENT_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define AP_VERSION 1
#define AP_HEADER 12
#define AP_MAX_PAYLOAD 65536
#define AP_MAX_SESSIONS 16 /* per stream */
#define AP_SESSION_PORTS 8 /* virtio-serial session ports of a QEMU guest */
#define AP_SESSION_PORT_PREFIX "hearth.session."
#define AP_SESSION_VSOCK_PORT 53
#define AP_SESSION_SOCK "/run/hearth/session.sock"

enum ap_type {
	AP_HELLO = 1,
	AP_ERROR = 2,
	AP_EXEC = 3,
	AP_STARTED = 4,
	AP_STDIN = 5,
	AP_STDOUT = 6,
	AP_STDERR = 7,
	AP_RESIZE = 8,
	AP_SIGNAL = 9,
	AP_EXIT = 10,
	AP_CLOSE = 11,
};

struct ap_frame {
	uint8_t type;
	uint32_t session;
	uint32_t len;
	const uint8_t *payload; /* into the buffer parsed */
};

/* Reads one frame from BUF[0..LEN). Returns 1 with *F and *CONSUMED when
 * a whole frame is there, 0 when more bytes are needed, -1 when the
 * header is not valid (*WHY says how; the stream must end). */
int ap_parse(const uint8_t *buf, size_t len, struct ap_frame *f, size_t *consumed, const char **why);

/* The header of a frame of TYPE for SESSION with LEN payload bytes. */
void ap_header(uint8_t hdr[AP_HEADER], uint8_t type, uint32_t session, uint32_t len);

/* Big-endian integers in payloads. */
static inline void ap_put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline uint32_t ap_get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

#endif
