/* The two sides of compat.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "compat.h"
#if HEARTH_LINUX
#include <sys/mman.h>
#include <sys/random.h>
#elif defined(__APPLE__)
#include <sys/random.h> /* getentropy */
#endif

static __attribute__((unused)) int set_cloexec(int fd, bool nonblock)
{
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return -1;
	return nonblock ? fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) : 0;
}

/* Both of a new pair close-on-exec, or both closed. */
static __attribute__((unused)) int pair_cloexec(int fds[2])
{
	if (set_cloexec(fds[0], false) < 0 || set_cloexec(fds[1], false) < 0) {
		int e = errno;
		close(fds[0]);
		close(fds[1]);
		errno = e;
		return -1;
	}
	return 0;
}

int pipe_cloexec(int fds[2])
{
#if HEARTH_LINUX
	return pipe2(fds, O_CLOEXEC);
#else
	return pipe(fds) < 0 ? -1 : pair_cloexec(fds);
#endif
}

int socket_cloexec(int domain, int type, int protocol, bool nonblock)
{
#if HEARTH_LINUX
	return socket(domain, type | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), protocol);
#else
	int fd = socket(domain, type, protocol);
	if (fd >= 0 && set_cloexec(fd, nonblock) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
#endif
}

int socketpair_cloexec(int domain, int type, int protocol, int sv[2])
{
#if HEARTH_LINUX
	return socketpair(domain, type | SOCK_CLOEXEC, protocol, sv);
#else
	return socketpair(domain, type, protocol, sv) < 0 ? -1 : pair_cloexec(sv);
#endif
}

void secure_zero(void *p, size_t n)
{
#if HEARTH_LINUX
	explicit_bzero(p, n);
#else
	volatile unsigned char *v = p;
	while (n--)
		*v++ = 0;
#endif
}

int random_bytes(void *buf, size_t len)
{
#if HEARTH_LINUX
	return getrandom(buf, len, 0) == (ssize_t)len ? 0 : -1;
#else
	return getentropy(buf, len);
#endif
}

int rename_noreplace(int olddirfd, const char *old, int newdirfd, const char *new_name)
{
#if HEARTH_LINUX
	return renameat2(olddirfd, old, newdirfd, new_name, RENAME_NOREPLACE);
#elif defined(__APPLE__)
	return renameatx_np(olddirfd, old, newdirfd, new_name, RENAME_EXCL);
#else
	/* The portable build run on Linux (make portable-check): checked,
	 * then renamed; only a name made in between could be replaced. */
	struct stat st;
	if (fstatat(newdirfd, new_name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		errno = EEXIST;
		return -1;
	}
	return renameat(olddirfd, old, newdirfd, new_name);
#endif
}

int anon_file(const char *name)
{
#if HEARTH_LINUX
	return memfd_create(name, MFD_CLOEXEC);
#else
	(void)name;
	char path[] = "/tmp/hearth-anon.XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		return -1;
	unlink(path);
	if (set_cloexec(fd, false) < 0) {
		close(fd);
		return -1;
	}
	return fd;
#endif
}
