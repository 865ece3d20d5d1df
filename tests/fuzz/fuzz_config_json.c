/* Fuzzes the start configuration's JSON reader, and checks that what it
 * accepts prints to JSON it reads back to the same JSON. */
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
	struct hearth_error *err = NULL;
	struct hearth_config *cfg = hearth_config_from_json(s, &err);
	if (!cfg) {
		if (!err || !err->message)
			abort();
		hearth_error_free(err);
	} else {
		char *one = hearth_config_to_json(cfg, 0);
		struct hearth_config *back = hearth_config_from_json(one, &err);
		if (!back)
			abort();
		char *two = hearth_config_to_json(back, 0);
		if (strcmp(one, two) != 0)
			abort();
		free(one);
		free(two);
		hearth_config_free(back);
		hearth_config_free(cfg);
	}
	free(s);
	return 0;
}
