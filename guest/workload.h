/* The workload an OCI image names (its Entrypoint and Cmd, Env,
 * WorkingDir, User, StopSignal), as the host wrote it in the config
 * drive's .hearth/workload.json. Without that file the workload is the
 * image's /etc/hearth/start, run as root in /. */
#ifndef HEARTH_GUEST_WORKLOAD_H
#define HEARTH_GUEST_WORKLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct workload {
	char **argv; /* NULL-terminated */
	char **env;  /* NULL-terminated "K=V", or NULL: the default */
	char *cwd;   /* or NULL: / */
	char *user;  /* "uid[:gid]" or "name[:group]", or NULL: root */
	int stop_signal;
};

/* Parses workload.json TEXT; -1 with ERR filled when it is malformed. */
int workload_parse(const char *text, struct workload *w, char *err, size_t errlen);
void workload_release(struct workload *w);

/* Resolves USER against ROOT/etc/passwd and ROOT/etc/group as the image
 * has them: numbers as they are, names looked up; a user's group is its
 * passwd entry's unless named. */
int workload_user(const char *root, const char *user, uid_t *uid, gid_t *gid, char *err, size_t errlen);

#endif
