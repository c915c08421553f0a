/* Polled PS/2 keyboard, scancode set 1 (i8042 translation on, as QEMU delivers it). */
#ifndef GUEST_KBD_H
#define GUEST_KBD_H
#include <stdint.h>

struct kbd_state {
    uint32_t scancode; /* last counted make code; 0xE0xx for extended keys */
    uint32_t presses;  /* makes of keys not already held */
    uint32_t held;     /* keys made and not yet broken */
    uint32_t marker;   /* flips on each counted make; 1 = white */
    uint32_t f12;      /* counted makes of F12 (0x58): the resolution switch */
};

extern struct kbd_state kbd;

/* Drains the controller; returns non-zero when the state changed. */
int kbd_poll(void);

#endif
