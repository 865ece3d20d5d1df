/* libhearth errors. The rule, everywhere in libhearth:
 * - Every fallible call takes `struct hearth_error **err` last, returns 0
 *   (or a pointer) on success and -1 (or NULL) on failure, and sets *err
 *   only when it fails.
 * - An error already set is never replaced: the first cause wins; callers
 *   add context in front of its message.
 * - ERR may be NULL: the caller has no use for why. No error is made only
 *   to be freed.
 * - The kind says whose the fault is (below); the message is one line,
 *   field or subject first, the value in parentheses.
 * docs/architecture.md says more. */
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
