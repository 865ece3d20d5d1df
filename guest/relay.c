/* `hearth-init relay`: the guest's end of a session carried over a
 * container tool's own exec (Apple's `container exec -i`), for backends
 * that offer hearth no socket into the guest. It joins stdin and stdout
 * to one of the agent's sockets (session or agent: requests such as
 * ping) until the agent hangs up. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "hearth/agent_proto.h"
#include "hearth/contract.h"
#include "relay.h"

/* Moves what FROM has to TO: 1 moved, 0 end of input, -1 failed. */
static int pass(int from, int to)
{
	char buf[65536];
	ssize_t n = read(from, buf, sizeof(buf));
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 1 : -1;
	for (ssize_t off = 0; off < n;) {
		ssize_t w = write(to, buf + off, (size_t)(n - off));
		if (w < 0 && errno != EINTR)
			return -1;
		off += w > 0 ? w : 0;
	}
	return n > 0;
}

int relay_main(const char *which)
{
	const char *path = strcmp(which, "agent") == 0 ? HEARTH_CONTAINER_AGENT_SOCK : AP_SESSION_SOCK;
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "hearth-init relay: %s: %s\n", path, strerror(errno));
		return 1;
	}
	struct pollfd fds[2] = { { .fd = STDIN_FILENO, .events = POLLIN }, { .fd = s, .events = POLLIN } };
	for (;;) {
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		if (fds[0].revents) {
			int r = pass(STDIN_FILENO, s);
			if (r < 0)
				return 1;
			if (r == 0) { /* the host is done sending: the agent may still answer */
				shutdown(s, SHUT_WR);
				fds[0].fd = -1;
			}
		}
		if (fds[1].revents) {
			int r = pass(s, STDOUT_FILENO);
			if (r <= 0)
				return r < 0;
		}
	}
}
