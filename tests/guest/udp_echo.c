/* A udp echo server for test guests (busybox has none): answers every
 * datagram on PORT with "echo: " and the datagram. Static, tiny. */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int main(int argc, char **argv)
{
	int port = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 7;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("udp-echo");
		return 1;
	}
	for (;;) {
		char buf[2048];
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(fd, buf + 6, sizeof(buf) - 6, 0, (struct sockaddr *)&from, &fl);
		if (n < 0)
			continue;
		memcpy(buf, "echo: ", 6);
		sendto(fd, buf, (size_t)n + 6, 0, (struct sockaddr *)&from, fl);
	}
}
