/* Fuzzes what hearth reads out of HTTP answers itself (libcurl frames
 * them): an error body turned into one line, and Firecracker's version. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backends/firecracker.h"
#include "lib/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *body = xstrndup((const char *)data, size);
	struct http_response resp = { .status = 500, .body = body, .len = strlen(body) };
	char msg[512];
	const char *m = http_error_message(&resp, msg, sizeof(msg));
	if (strchr(m, '\n') || strlen(m) >= sizeof(msg))
		abort(); /* one line, within the buffer */
	struct fc_version v;
	if (fc_version_parse(body, &v) == 0 && v.major > 1000000)
		abort();
	free(body);
	return 0;
}
