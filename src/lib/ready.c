/* Readiness probes in the start configuration: "none", "log:REGEX",
 * "tcp:PORT", "http:PORT[/PATH]", "exec:CMD"; NULL for hearth-init's
 * ready line. */
#include <regex.h>
#include <string.h>

#include "hearth/config.h"
#include "util.h"

static int port_of(const char *spec, const char *s, const char **rest, unsigned *ret, struct hearth_error **err)
{
	size_t n = strspn(s, "0123456789");
	char num[8];
	uint64_t v;
	if (n == 0 || n >= sizeof(num))
		return fail_invalid(err, "ready: want a port 1..65535 (%s)", spec);
	memcpy(num, s, n);
	num[n] = '\0';
	if (parse_u64(num, 1, 65535, &v) < 0)
		return fail_invalid(err, "ready: want a port 1..65535 (%s)", spec);
	*ret = (unsigned)v;
	*rest = s + n;
	return 0;
}

int hearth_ready_parse(const char *spec, struct hearth_ready *ret, struct hearth_error **err)
{
	struct hearth_ready r = { .kind = HEARTH_READY_AGENT };
	const char *rest;
	if (!spec) {
		/* the default */
	} else if (strcmp(spec, "none") == 0) {
		r.kind = HEARTH_READY_NONE;
	} else if (str_has_prefix(spec, "log:")) {
		r.kind = HEARTH_READY_LOG;
		r.arg = spec + 4;
		regex_t re;
		if (!*r.arg || regcomp(&re, r.arg, REG_EXTENDED | REG_NOSUB) != 0)
			return fail_invalid(err, "ready: not an extended regular expression (%s)", spec);
		regfree(&re);
	} else if (str_has_prefix(spec, "tcp:")) {
		r.kind = HEARTH_READY_TCP;
		if (port_of(spec, spec + 4, &rest, &r.port, err) < 0)
			return -1;
		if (*rest)
			return fail_invalid(err, "ready: want tcp:PORT (%s)", spec);
	} else if (str_has_prefix(spec, "http:")) {
		r.kind = HEARTH_READY_HTTP;
		if (port_of(spec, spec + 5, &rest, &r.port, err) < 0)
			return -1;
		if (*rest && (*rest != '/' || strpbrk(rest, " \t\r\n")))
			return fail_invalid(err, "ready: want http:PORT[/PATH] (%s)", spec);
		r.arg = *rest ? rest : "/";
	} else if (str_has_prefix(spec, "exec:")) {
		r.kind = HEARTH_READY_EXEC;
		r.arg = spec + 5;
		if (!*r.arg)
			return fail_invalid(err, "ready: want exec:COMMAND (%s)", spec);
	} else {
		return fail_invalid(err, "ready: want none, log:REGEX, tcp:PORT, http:PORT[/PATH] or exec:CMD (%s)", spec);
	}
	if (ret)
		*ret = r;
	return 0;
}
