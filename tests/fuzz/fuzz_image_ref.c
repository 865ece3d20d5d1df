/* Fuzzes the image reference parser: any text either parses into parts
 * that put back together name the same thing, or fails with a message. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/digest.h"
#include "image/ref.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = xstrndup((const char *)data, size);
	struct image_ref ref;
	struct hearth_error *err = NULL;
	if (image_ref_parse(s, &ref, &err) < 0) {
		if (!err || !err->message[0])
			abort();
		hearth_error_free(err);
		free(s);
		return 0;
	}
	switch (ref.transport) {
	case IMAGE_DOCKER:
	case IMAGE_DOCKER_DAEMON:
		/* A name, and a tag or a digest (a registry for docker://). */
		if (!ref.repository || !*ref.repository || (!ref.tag && !ref.digest) ||
		    (ref.digest && !digest_valid(ref.digest)) ||
		    (ref.transport == IMAGE_DOCKER && (!ref.registry || !*ref.registry)))
			abort();
		break;
	default:
		if (!ref.path || !*ref.path)
			abort();
	}
	image_ref_release(&ref);
	free(s);
	return 0;
}
