/* Fuzzes hearth-init's volumes.json parser. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "volumes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	struct guest_volume v[GUEST_VOLUMES_MAX];
	char err[256] = "";
	int n = guest_volumes_parse(s, v, err, sizeof(err));
	if (n < 0 && !err[0])
		abort();
	for (int i = 0; i < n; i++)
		if (!guest_mount_path_valid(v[i].path)) /* never hands out a bad mount point */
			abort();
	free(s);
	return 0;
}
