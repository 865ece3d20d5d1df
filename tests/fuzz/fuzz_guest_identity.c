/* Fuzzes hearth-init's parser of the "identity" command a restored guest
 * gets from the host. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "identity.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	struct guest_identity id;
	char err[256] = "";
	if (identity_parse(s, &id, err, sizeof(err)) == 0) {
		/* what parsed is whole and within its bounds */
		if (!id.net.name[0] || strlen(id.net.name) >= sizeof(id.net.name) || id.entropy_len < 32 ||
		    id.entropy_len > sizeof(id.entropy) || id.time_nsec < 0 || id.time_nsec >= 1000000000 ||
		    (!id.has_mac && memcmp(id.mac, "\0\0\0\0\0\0", 6) != 0))
			abort();
	} else if (!err[0]) {
		abort(); /* a failure always says why */
	}
	free(s);
	return 0;
}
