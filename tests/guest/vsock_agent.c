/* Sends one command to hearth-init's agent over vsock from inside a test
 * guest (CID 1 is the guest itself, through the loopback transport) and
 * prints "vsock: REPLY". Usage: vsock-agent [COMMAND] [CID]. Static. */
#include <linux/vm_sockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "ping";
	unsigned cid = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : VMADDR_CID_LOCAL;
	struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_port = 52, .svm_cid = cid };
	int fd = socket(AF_VSOCK, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("vsock-agent: connect");
		return 1;
	}
	char line[64], reply[64] = "";
	int n = snprintf(line, sizeof(line), "%s\n", cmd);
	if (write(fd, line, (size_t)n) != n) {
		perror("vsock-agent: write");
		return 1;
	}
	ssize_t r = read(fd, reply, sizeof(reply) - 1);
	reply[r > 0 ? r : 0] = '\0';
	reply[strcspn(reply, "\n")] = '\0';
	printf("vsock: %s\n", r > 0 ? reply : "(closed)");
	return 0;
}
