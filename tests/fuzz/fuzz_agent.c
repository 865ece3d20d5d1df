/* Fuzzes the host side of the agent protocol against what a guest (or
 * Firecracker's vsock multiplexer) answers: the input is that answer. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/agent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sv[2];
	if (size < 1 || size > 100000 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return 0;
	int buf = 1 << 20;
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	/* The first byte picks the channel: vsock (CONNECT first) or direct. */
	struct hearth_record rec = { .name = "fuzz", .vsock_cid = data[0] & 1 ? 3 : 0 };
	if (write(sv[1], data + 1, size - 1) != (ssize_t)(size - 1))
		abort();
	shutdown(sv[1], SHUT_WR);
	char *reply = NULL;
	struct hearth_error *err = NULL;
	if (agent_exchange(sv[0], &rec, "ping", &reply, &err) < 0) {
		if (!err || !err->message)
			abort();
		hearth_error_free(err);
	} else if (!reply || strchr(reply, '\n')) {
		abort(); /* one line, without its newline */
	}
	free(reply);
	close(sv[0]);
	close(sv[1]);
	return 0;
}
