/* Fuzzes hearth's side of a session: whatever a hostile guest answers,
 * `hearth exec` ends with an exit status or an error, and never crashes
 * or hangs. The input is what the guest sends, after which it hangs up. */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/agent_exec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sv[2];
	if (size > 200000 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return 0;
	int big = 1 << 20;
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	size_t off = 0;
	while (off < size) {
		ssize_t w = write(sv[1], data + off, size - off);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	shutdown(sv[1], SHUT_WR);
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	char *argv[] = { (char *)"true", NULL };
	struct hearth_exec ex = { .argv = argv, .in_fd = -1, .out_fd = null, .err_fd = null, .tty_fd = -1,
				  .signal_fd = -1 };
	int status;
	struct hearth_error *err = NULL;
	if (agent_exec_run(sv[0], &ex, &status, &err) < 0 && (!err || !err->message))
		abort(); /* a failure always says why */
	hearth_error_free(err);
	close(null);
	close(sv[0]);
	close(sv[1]);
	return 0;
}
