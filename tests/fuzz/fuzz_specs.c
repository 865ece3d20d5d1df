/* Fuzzes the CLI's compact specs: -p ports, -v volumes, --memory. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hearth/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	struct hearth_config *cfg = hearth_config_new();
	struct hearth_error *err = NULL;
	unsigned mib;
	if (hearth_config_add_port(cfg, s, &err) == 0) {
		if (cfg->ports[0].host == 0 || cfg->ports[0].guest == 0)
			abort();
	} else {
		hearth_error_free(err);
		err = NULL;
	}
	if (hearth_config_add_volume(cfg, s, &err) < 0) {
		hearth_error_free(err);
		err = NULL;
	}
	if (hearth_parse_memory(s, &mib, &err) == 0) {
		if (mib < HEARTH_MEMORY_MIN_MIB || mib > HEARTH_MEMORY_MAX_MIB)
			abort();
	} else {
		hearth_error_free(err);
	}
	hearth_config_free(cfg);
	free(s);
	return 0;
}
