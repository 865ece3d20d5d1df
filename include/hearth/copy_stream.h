/* The copy stream of `hearth cp` (docs/agent-protocol.md): a tree as a
 * sequence of records, written by one end and read by the other, shared
 * by hearth and hearth-init. The reader trusts nothing it reads: every
 * name is checked and every file made beneath its destination, never
 * through a link (not one the stream made, nor one that was there). */
#ifndef HEARTH_COPY_STREAM_H
#define HEARTH_COPY_STREAM_H

#include <stdbool.h>
#include <stddef.h>

#define CS_HEADER_MAX 8192 /* bytes of one record's JSON header */
#define CS_PATH_MAX 4096
#define CS_DEPTH_MAX 64

/* Writes the tree at SRC (a file, directory or link; links are not
 * followed) to FD as a copy stream whose names begin with ROOT_NAME (NULL:
 * SRC's last component). Returns 0, or -1 with why in ERR. */
int cs_write_tree(int fd, const char *src, const char *root_name, char *err, size_t errlen);

/* Reads a copy stream from FD into directory DST. The stream's first
 * name is the root of what it carries; with RENAME (not NULL) that root
 * is made as RENAME instead. Names that leave the root (absolute, with
 * "..", empty) and links to be followed are refused; owners are kept
 * when running as root; setuid and setgid bits only from a TRUSTED
 * stream. Returns 0, or -1 with why in ERR (what was made until then
 * stays). */
int cs_read_tree(int fd, const char *dst, const char *rename, bool trusted, char *err, size_t errlen);

/* Where a copy to TARGET goes, as cp does: into TARGET when it is a
 * directory (*RET_RENAME NULL), else into TARGET's directory under
 * TARGET's name. *RET_DIR and *RET_RENAME are malloc'd. */
int cs_destination(const char *target, char **ret_dir, char **ret_rename, char *err, size_t errlen);

#endif
