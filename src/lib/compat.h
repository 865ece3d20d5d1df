/* What Linux and macOS spell differently, behind one name each. libhearth
 * builds on both (the VM backends, the bridge and the monitor on Linux
 * only): portable code calls these, never the Linux-only originals.
 * HEARTH_PORTABLE (make portable-check) takes the non-Linux side on
 * Linux, so the Linux build checks that side compiles. */
#ifndef HEARTH_COMPAT_H
#define HEARTH_COMPAT_H

#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>

#if defined(__linux__) && !defined(HEARTH_PORTABLE)
#define HEARTH_LINUX 1
#else
#define HEARTH_LINUX 0
#endif

/* stat's nanosecond times: st_mtim on Linux (POSIX 2008), st_mtimespec
 * on macOS. */
#ifdef __APPLE__
#define st_atim st_atimespec
#define st_mtim st_mtimespec
#define st_ctim st_ctimespec
#endif

/* A descriptor that only names a directory (for *at() calls): O_PATH on
 * Linux, a plain read-only open elsewhere. */
#if HEARTH_LINUX
#define O_PATH_OR_RDONLY O_PATH
#else
#define O_PATH_OR_RDONLY O_RDONLY
#endif

/* send() that never raises SIGPIPE: macOS has MSG_NOSIGNAL since 10.13;
 * where a system lacks it the CLI ignores SIGPIPE anyway. */
#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

/* pipe(), both ends close-on-exec. */
int pipe_cloexec(int fds[2]);

/* socket() and socketpair(), close-on-exec (and non-blocking when
 * NONBLOCK): one call on Linux, fcntl after on macOS. */
int socket_cloexec(int domain, int type, int protocol, bool nonblock);
int socketpair_cloexec(int domain, int type, int protocol, int sv[2]);

/* Zeroes secrets so the compiler cannot drop it as a dead store. */
void secure_zero(void *p, size_t n);

/* LEN (<= 256) bytes from the kernel's random source; 0 or -1 (errno). */
int random_bytes(void *buf, size_t len);

/* renameat() that fails with EEXIST rather than replace NEW. */
int rename_noreplace(int olddirfd, const char *old, int newdirfd, const char *new_name);

/* An anonymous read-write file (memfd on Linux, an unlinked temporary
 * file elsewhere), close-on-exec; NAME is for debugging. */
int anon_file(const char *name);

#endif
