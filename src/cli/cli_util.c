/* The little the commands need beyond libhearth's public API: strings,
 * numbers, paths. The CLI links against the public API only (make check
 * links it against libhearth.so, which exports nothing else). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static _Noreturn void out_of_memory(void)
{
	fputs("hearth: error: out of memory\n", stderr);
	exit(1);
}

char *cli_asprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s;
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		out_of_memory();
	return s;
}

int cli_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
	if (!s || *s < '0' || *s > '9')
		return -1;
	uint64_t v = 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (v < min || v > max)
		return -1;
	*ret = v;
	return 0;
}

char *cli_absolute(const char *path)
{
	if (path[0] == '/')
		return cli_asprintf("%s", path);
	char cwd[4096];
	if (!getcwd(cwd, sizeof(cwd)))
		return cli_asprintf("%s", path);
	if (strcmp(path, ".") == 0)
		return cli_asprintf("%s", cwd);
	return cli_asprintf("%s/%s", cwd, strncmp(path, "./", 2) == 0 ? path + 2 : path);
}

int cli_tls_verify(struct hearth_ctx *ctx, const char *value)
{
	if (strcmp(value, "true") == 0)
		return 0;
	if (strcmp(value, "false") != 0) {
		cli_usage_error("tls-verify: want true or false (%s)", value);
		return -1;
	}
	struct hearth_error *err = NULL;
	if (hearth_ctx_set(ctx, HEARTH_SETTING_INSECURE_REGISTRIES, "*", &err) < 0) {
		cli_fail(err);
		return -1;
	}
	return 0;
}
