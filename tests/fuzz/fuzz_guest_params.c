/* Fuzzes hearth-init's kernel command line parser. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "params.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	struct guest_params p;
	char err[256];
	if (guest_params_parse(s, &p, err, sizeof(err)) == 0) {
		/* what parsed must be within its bounds and consistent */
		if (strlen(p.name) >= sizeof(p.name) || (p.has_gw && !p.has_ip) || p.prefix > 32)
			abort();
	} else if (!err[0]) {
		abort(); /* a failure always says why */
	}
	free(s);
	return 0;
}
