#include "params.h"

#include "hearth/contract.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void params_defaults(struct guest_params *p)
{
	memset(p, 0, sizeof(*p));
	p->restart = GUEST_RESTART_NO;
	p->restart_max = 5;
	p->grace_s = 10;
}

static int copy_value(char *dst, size_t dstlen, const char *key, const char *v, size_t vlen, char *err, size_t errlen)
{
	if (vlen == 0) {
		snprintf(err, errlen, "%s: missing value", key);
		return -1;
	}
	if (vlen >= dstlen) {
		snprintf(err, errlen, "%s: value too long (%zu bytes, at most %zu)", key, vlen, dstlen - 1);
		return -1;
	}
	memcpy(dst, v, vlen);
	dst[vlen] = '\0';
	return 0;
}

static bool name_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 63)
		return false;
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
		return false;
	for (size_t i = 1; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return false;
	}
	return true;
}

static int parse_uint(const char *s, unsigned max, unsigned *ret)
{
	char *end;
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return -1;
	*ret = (unsigned)v;
	return 0;
}

static bool ipv4_valid(const char *s)
{
	struct in_addr a;
	return inet_pton(AF_INET, s, &a) == 1;
}

static int set_ip(struct guest_params *p, const char *v, char *err, size_t errlen)
{
	char buf[32];
	if (strlen(v) >= sizeof(buf)) {
		snprintf(err, errlen, "hearth.ip: value too long (%.40s)", v);
		return -1;
	}
	memcpy(buf, v, strlen(v) + 1);
	char *slash = strchr(buf, '/');
	if (!slash) {
		snprintf(err, errlen, "hearth.ip: expected ADDR/PREFIX (%s)", v);
		return -1;
	}
	*slash = '\0';
	if (!ipv4_valid(buf) || parse_uint(slash + 1, 32, &p->prefix) < 0) {
		snprintf(err, errlen, "hearth.ip: not an IPv4 ADDR/PREFIX (%s)", v);
		return -1;
	}
	memcpy(p->ip, buf, strlen(buf) + 1);
	p->has_ip = true;
	return 0;
}

int guest_params_set(struct guest_params *p, const char *key, const char *v, char *err, size_t errlen)
{
	if (strcmp(key, HEARTH_PARAM_NAME) == 0) {
		if (!name_valid(v)) {
			snprintf(err, errlen, "hearth.name: not a valid name (%.64s)", v);
			return -1;
		}
		snprintf(p->name, sizeof(p->name), "%s", v);
	} else if (strcmp(key, HEARTH_PARAM_IP) == 0) {
		return set_ip(p, v, err, errlen);
	} else if (strcmp(key, HEARTH_PARAM_GW) == 0) {
		if (!ipv4_valid(v)) {
			snprintf(err, errlen, "hearth.gw: not an IPv4 address (%.40s)", v);
			return -1;
		}
		snprintf(p->gw, sizeof(p->gw), "%s", v);
		p->has_gw = true;
	} else if (strcmp(key, HEARTH_PARAM_RESTART) == 0) {
		if (strcmp(v, "no") == 0)
			p->restart = GUEST_RESTART_NO;
		else if (strcmp(v, "on-failure") == 0)
			p->restart = GUEST_RESTART_ON_FAILURE;
		else if (strcmp(v, "always") == 0)
			p->restart = GUEST_RESTART_ALWAYS;
		else {
			snprintf(err, errlen, "hearth.restart: expected no, on-failure or always (%.40s)", v);
			return -1;
		}
	} else if (strcmp(key, HEARTH_PARAM_RESTART_MAX) == 0) {
		if (parse_uint(v, 1000, &p->restart_max) < 0) {
			snprintf(err, errlen, "hearth.restart_max: expected 0..1000 (%.40s)", v);
			return -1;
		}
	} else if (strcmp(key, HEARTH_PARAM_GRACE) == 0) {
		if (parse_uint(v, 3600, &p->grace_s) < 0) {
			snprintf(err, errlen, "hearth.grace: expected 0..3600 seconds (%.40s)", v);
			return -1;
		}
	} else if (strcmp(key, HEARTH_PARAM_HOLD) == 0) {
		if (strcmp(v, "0") && strcmp(v, "1")) {
			snprintf(err, errlen, "hearth.hold: expected 0 or 1 (%.40s)", v);
			return -1;
		}
		p->hold = v[0] == '1';
	} else if (strcmp(key, "root") == 0) {
		snprintf(p->root, sizeof(p->root), "%s", v);
	} else if (strcmp(key, HEARTH_PARAM_INIT) == 0) {
		if (v[0] != '/') {
			snprintf(err, errlen, "hearth.init: not an absolute path (%.100s)", v);
			return -1;
		}
		snprintf(p->init, sizeof(p->init), "%s", v);
	}
	return 0;
}

/* The keys this parser takes, each with the capacity of its field. */
static const struct {
	const char *key;
	size_t cap;
} known_keys[] = {
	{ HEARTH_PARAM_NAME, sizeof(((struct guest_params *)0)->name) },
	{ HEARTH_PARAM_IP, 32 },
	{ HEARTH_PARAM_GW, sizeof(((struct guest_params *)0)->gw) },
	{ HEARTH_PARAM_RESTART, 16 },
	{ HEARTH_PARAM_RESTART_MAX, 8 },
	{ HEARTH_PARAM_GRACE, 8 },
	{ HEARTH_PARAM_INIT, sizeof(((struct guest_params *)0)->init) },
	{ HEARTH_PARAM_HOLD, 2 },
	{ "root", sizeof(((struct guest_params *)0)->root) },
};

/* Capacity of KEY's field, or 0 when the key is not one of ours. */
static size_t value_capacity(const char *key)
{
	for (size_t i = 0; i < sizeof(known_keys) / sizeof(known_keys[0]); i++)
		if (strcmp(known_keys[i].key, key) == 0)
			return known_keys[i].cap;
	return 0;
}

int guest_params_parse(const char *cmdline, struct guest_params *p, char *err, size_t errlen)
{
	params_defaults(p);
	const char *s = cmdline;
	for (;;) {
		while (*s == ' ' || *s == '\t' || *s == '\n')
			s++;
		if (!*s)
			break;
		const char *start = s;
		while (*s && *s != ' ' && *s != '\t' && *s != '\n')
			s++;
		size_t len = (size_t)(s - start);
		if (len == 2 && start[0] == '-' && start[1] == '-')
			break;
		const char *eq = memchr(start, '=', len);
		size_t klen = eq ? (size_t)(eq - start) : len;
		char key[32];
		if (klen >= sizeof(key))
			continue; /* not one of ours: ours are all short */
		memcpy(key, start, klen);
		key[klen] = '\0';
		size_t cap = value_capacity(key);
		if (cap == 0 && strncmp(key, "hearth.", 7) == 0) {
			snprintf(err, errlen, "%s: unknown hearth key", key);
			return -1;
		}
		if (cap == 0)
			continue;
		char value[128];
		size_t vlen = eq ? len - klen - 1 : 0;
		if (copy_value(value, cap, key, eq ? eq + 1 : "", vlen, err, errlen) < 0)
			return -1;
		if (guest_params_set(p, key, value, err, errlen) < 0)
			return -1;
	}
	if (p->has_gw && !p->has_ip) {
		snprintf(err, errlen, "hearth.gw: given without hearth.ip (%s)", p->gw);
		return -1;
	}
	return 0;
}

int guest_params_from_env(struct guest_params *p, char *err, size_t errlen)
{
	static const struct {
		const char *env, *key;
	} map[] = {
		{ "HEARTH_NAME", HEARTH_PARAM_NAME },
		{ "HEARTH_IP", HEARTH_PARAM_IP },
		{ "HEARTH_GW", HEARTH_PARAM_GW },
		{ "HEARTH_RESTART", HEARTH_PARAM_RESTART },
		{ "HEARTH_RESTART_MAX", HEARTH_PARAM_RESTART_MAX },
		{ "HEARTH_GRACE", HEARTH_PARAM_GRACE },
	};
	params_defaults(p);
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		const char *v = getenv(map[i].env);
		if (!v)
			continue;
		char value[128];
		if (copy_value(value, value_capacity(map[i].key), map[i].key, v, strlen(v), err, errlen) < 0)
			return -1;
		if (guest_params_set(p, map[i].key, value, err, errlen) < 0)
			return -1;
	}
	return 0;
}
