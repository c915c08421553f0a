/* Frame pacing: the PIT interrupts at a fixed rate and the CPU halts in between, so the guest
 * draws at a steady rate and leaves the host's cores alone. */
#ifndef GUEST_PACE_H
#define GUEST_PACE_H
#include <stdint.h>

/* Installs the timer interrupt at `hz` (0: unpaced, pace_wait returns at once). */
void pace_init(uint32_t hz);
/* Halts until the next tick. */
void pace_wait(void);

#endif
