/* libhearth errors: every fallible call takes `struct hearth_error **err`
 * last and sets it only on failure. */
#ifndef HEARTH_ERROR_H
#define HEARTH_ERROR_H

#ifndef HEARTH_PUBLIC
#define HEARTH_PUBLIC __attribute__((visibility("default")))
#endif
/* On every call that can fail: its result is the only sign it did. */
#define HEARTH_WUR __attribute__((warn_unused_result))

enum hearth_error_kind {
	HEARTH_ERR_RUNTIME = 0,	  /* the host or a backend failed: CLI exit 1 */
	HEARTH_ERR_INVALID = 1,	  /* the caller's input is wrong: CLI exit 2 */
	HEARTH_ERR_NOT_FOUND = 2, /* no such guest: CLI exit 1 */
	HEARTH_ERR_CONFLICT = 3,  /* the guest or host is not in a state that allows it
				  * (a guest not running, a name or port taken): CLI exit 1 */
};

struct hearth_error {
	int code; /* errno-style, 0 when none applies */
	enum hearth_error_kind kind;
	char *message; /* one line, context first */
};

/* Frees E and its message; NULL is fine. */
HEARTH_PUBLIC void hearth_error_free(struct hearth_error *e);

#endif
