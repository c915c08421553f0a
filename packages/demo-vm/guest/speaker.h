/* PC speaker: a fixed tone through PIT channel 2 while F9 is held. */
#ifndef GUEST_SPEAKER_H
#define GUEST_SPEAKER_H

/* The tone's frequency: the PIT's 1193182 Hz divided by 1193 gives 1000.15 Hz. */
#define SPEAKER_HZ 1000u

/* Starts (on != 0) or stops the tone. */
void speaker_set(int on);

#endif
