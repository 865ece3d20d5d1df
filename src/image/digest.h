/* Content digests ("sha256:HEX"), as OCI names blobs: every blob hearth
 * reads from an image source is checked against the digest that named it. */
#ifndef HEARTH_DIGEST_H
#define HEARTH_DIGEST_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/util.h"

#define DIGEST_HEX_LEN 64
#define DIGEST_MAX (sizeof("sha256:") + DIGEST_HEX_LEN)

struct digest_state;

/* Whether S is "sha256:" and 64 lowercase hex digits. */
bool digest_valid(const char *s);

struct digest_state *digest_begin(void);
void digest_update(struct digest_state *d, const void *data, size_t len);
/* Writes "sha256:HEX" into OUT and frees D. */
void digest_end(struct digest_state *d, char out[DIGEST_MAX]);

/* The digest of LEN bytes. */
void digest_of(const void *data, size_t len, char out[DIGEST_MAX]);

/* Reads FD from its start to its end into the digest and compares with
 * WANT; FD is left at its start. -1 with *err naming WHAT on mismatch. */
int digest_check_fd(int fd, const char *want, const char *what, struct hearth_error **err) WUR;

#endif
