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

char *cli_vasprintf(const char *fmt, va_list ap)
{
	/* vasprintf is a GNU and BSD extension: measured, then written. */
	va_list again;
	va_copy(again, ap);
	int n = vsnprintf(NULL, 0, fmt, ap);
	char *s = n < 0 ? NULL : malloc((size_t)n + 1);
	if (!s)
		out_of_memory();
	vsnprintf(s, (size_t)n + 1, fmt, again);
	va_end(again);
	return s;
}

char *cli_asprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = cli_vasprintf(fmt, ap);
	va_end(ap);
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
