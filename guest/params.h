/* Parsing of the hearth.* keys on the guest kernel command line. */
#ifndef HEARTH_GUEST_PARAMS_H
#define HEARTH_GUEST_PARAMS_H

#include <stdbool.h>
#include <stddef.h>

enum guest_restart {
	GUEST_RESTART_NO,
	GUEST_RESTART_ON_FAILURE,
	GUEST_RESTART_ALWAYS,
};

struct guest_params {
	char name[64]; /* hearth.name=, empty when absent */
	char ip[16];   /* hearth.ip=ADDR/PREFIX, dotted quad */
	unsigned prefix;
	bool has_ip;
	char gw[16]; /* hearth.gw= */
	bool has_gw;
	enum guest_restart restart; /* hearth.restart=no|on-failure|always */
	unsigned restart_max;	    /* hearth.restart_max=N, default 5 */
	unsigned grace_s;	    /* hearth.grace=SECONDS before KILL, default 10 */
	char root[64];		    /* root=, used only as stage-1 from an initrd */
	char init[128];		    /* hearth.init=, what stage-1 switches to */
	bool hold;		    /* hearth.hold=1: a template's boot */
};

/* Parses CMDLINE (the contents of /proc/cmdline) into *P. Unknown keys
 * are the kernel's business and ignored; parsing stops at "--". Returns 0,
 * or -1 with a one-line reason naming the key and value in ERR. */
int guest_params_parse(const char *cmdline, struct guest_params *p, char *err, size_t errlen);

/* Sets one hearth.* KEY to V, checked as on the command line. */
int guest_params_set(struct guest_params *p, const char *key, const char *v, char *err, size_t errlen);

/* Fills *P from the HEARTH_* environment that container backends set.
 * Same contract as guest_params_parse. */
int guest_params_from_env(struct guest_params *p, char *err, size_t errlen);

#endif
