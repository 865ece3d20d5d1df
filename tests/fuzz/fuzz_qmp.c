/* Fuzzes the QMP client against whatever a peer sends: the input is the
 * peer's whole side of the conversation (greeting, answers, events). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/qmp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sv[2];
	if (size > 100000 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return 0;
	int buf = 1 << 20;
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	if (write(sv[1], data, size) != (ssize_t)size)
		abort();
	shutdown(sv[1], SHUT_WR); /* then EOF: never a wait on the timeout */
	json_t *ret = NULL;
	struct hearth_error *err = NULL;
	if (qmp_execute_fd(sv[0], "query-status", NULL, &ret, &err) < 0) {
		if (!err || !err->message)
			abort();
		hearth_error_free(err);
	} else {
		json_decref(ret);
	}
	close(sv[0]);
	close(sv[1]);
	return 0;
}
