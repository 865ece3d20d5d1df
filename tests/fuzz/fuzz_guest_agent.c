/* Fuzzes hearth-init's reader of the agent's session streams: whatever a
 * host sends, the agent answers or ends the stream, and never crashes,
 * hangs or grows without bound. Commands are refused, never run, here. */
#include <stddef.h>
#include <stdint.h>

#include "sessions.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sessions_feed_for_test(data, size);
	return 0;
}
