#ifndef HEARTH_GUEST_RELAY_H
#define HEARTH_GUEST_RELAY_H

/* Joins stdin/stdout to the agent's WHICH socket ("session" or "agent");
 * the exit status. */
int relay_main(const char *which);

#endif
