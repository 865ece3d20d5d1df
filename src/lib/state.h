/* The state root: one directory per guest, atomic writes, locks. */
#ifndef HEARTH_STATE_H
#define HEARTH_STATE_H

#include "hearth/hearth.h"
#include "record.h"
#include "util.h"

/* Opens (creating, mode 0700) the state root and its vms/ and cache/.
 * Returns a directory fd. */
int state_root_open(const struct hearth_ctx *ctx, struct hearth_error **err) WUR;

/* The state root's cache directory (made with the root), for what may
 * be remembered to save work and forgotten at no cost; -1 on failure. */
int state_cache_open(const struct hearth_ctx *ctx);

/* Takes the root's allocation lock (names, ports, slots); close the
 * returned fd to release it. */
int state_lock(int rootfd, struct hearth_error **err) WUR;

/* Creates vms/NAME (0700) with CONFIG_JSON as config.json and REC as
 * record.json (either may be NULL), appearing whole or not at all; fails
 * with "name already in use" if it exists. Returns its fd. Call under
 * state_lock. */
int state_vm_create(int rootfd, const char *name, const char *config_json, const struct hearth_record *rec,
		    struct hearth_error **err) WUR;

/* Opens vms/NAME; a HEARTH_ERR_NOT_FOUND error when there is none. */
int state_vm_open(int rootfd, const char *name, struct hearth_error **err) WUR;

/* Absolute path of vms/NAME. */
char *state_vm_path(const struct hearth_ctx *ctx, const char *name);

/* A short stable tag of the state root (16 bits of a hash of its path),
 * for names outside it that two roots must not share: TAPs, cgroups. */
unsigned state_root_tag(const struct hearth_ctx *ctx);

/* Lists the names under vms/, sorted. */
int state_list_names(int rootfd, char ***ret, size_t *ret_n, struct hearth_error **err) WUR;
void names_free(char **names, size_t n);

int state_vm_remove(int rootfd, const char *name, struct hearth_error **err) WUR;

/* The run record (record.json) of a guest directory. */
int record_read(int vmfd, struct hearth_record **ret, struct hearth_error **err) WUR;
int record_write(int vmfd, const struct hearth_record *rec, struct hearth_error **err) WUR;

/* Read-modify-write of the record under the guest's own lock. */
typedef void (*record_fn)(struct hearth_record *rec, void *arg);
int record_update(int vmfd, record_fn fn, void *arg, struct hearth_error **err) WUR;

/* A new name "adjective-noun" not used under vms/. Call under state_lock. */
char *name_generate(int rootfd);

#endif
