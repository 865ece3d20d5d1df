/* Frames of the agent's session protocol. Compiled into libhearth and
 * into hearth-init: no libhearth helpers here. */
#include "hearth/agent_proto.h"

int ap_parse(const uint8_t *buf, size_t len, struct ap_frame *f, size_t *consumed, const char **why)
{
	if (len < AP_HEADER)
		return 0;
	uint32_t n = ap_get_u32(buf);
	if (n > AP_MAX_PAYLOAD) {
		*why = "frame longer than 64 KiB";
		return -1;
	}
	if (buf[5] || buf[6] || buf[7]) {
		*why = "reserved header bytes not zero";
		return -1;
	}
	if (len < AP_HEADER + (size_t)n)
		return 0;
	*f = (struct ap_frame){ .type = buf[4], .session = ap_get_u32(buf + 8), .len = n, .payload = buf + AP_HEADER };
	*consumed = AP_HEADER + (size_t)n;
	return 1;
}

void ap_header(uint8_t hdr[AP_HEADER], uint8_t type, uint32_t session, uint32_t len)
{
	ap_put_u32(hdr, len);
	hdr[4] = type;
	hdr[5] = hdr[6] = hdr[7] = 0;
	ap_put_u32(hdr + 8, session);
}
