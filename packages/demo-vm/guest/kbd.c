#include "kbd.h"
#include "io.h"
#include "speaker.h"

#define KEY_F12 0x58
#define DEBUGCON 0xE9 /* QEMU's ISA debug console (-debugcon); writes go nowhere without it */
#define KEY_F9 0x43 /* held: the PC speaker tone (speaker.c) */

struct kbd_state kbd;

static uint8_t held_keys[2][256]; /* [0] plain codes, [1] 0xE0-prefixed codes */
static int extended;              /* an 0xE0 came before this byte */
static int skip;                  /* bytes of an 0xE1 (Pause) sequence left to drop */

static int kbd_byte(uint8_t b)
{
    if (skip) {
        skip--;
        return 0;
    }
    if (b == 0xE1) { /* Pause: E1 1D 45 E1 9D C5, make only */
        skip = 2;
        extended = 0;
        return 0;
    }
    if (b == 0xE0) {
        extended = 1;
        return 0;
    }
    if (b == 0x00 || b == 0xFF) { /* key detection error / overrun */
        extended = 0;
        return 0;
    }
    int ext = extended;
    extended = 0;
    uint8_t code = b & 0x7F;
    uint8_t *slot = &held_keys[ext][code];
    if (!(b & 0x80)) {
        if (*slot)
            return 0; /* typematic repeat of a held key */
        *slot = 1;
        kbd.held++;
        kbd.presses++;
        kbd.scancode = ext ? (0xE000u | code) : code;
        kbd.marker ^= 1;
        if (!ext && code == KEY_F12)
            kbd.f12++;
        if (!ext && code == KEY_F9)
            speaker_set(1);
        return 1;
    }
    if (!*slot)
        return 0; /* break of a key we never saw made */
    *slot = 0;
    kbd.held--;
    if (!ext && code == KEY_F9)
        speaker_set(0);
    return 1;
}

/* Every keyboard byte as two hex digits and a newline on the debug console (README.md). */
static void kbd_report(uint8_t b)
{
    static const char hex[] = "0123456789abcdef";
    outb(DEBUGCON, (uint8_t)hex[b >> 4]);
    outb(DEBUGCON, (uint8_t)hex[b & 15]);
    outb(DEBUGCON, '\n');
}

int kbd_poll(void)
{
    int changed = 0;
    for (int n = 0; n < 64; n++) {
        uint8_t st = inb(0x64);
        if (!(st & 0x01))
            break;
        uint8_t b = inb(0x60);
        if (st & 0x20)
            continue; /* mouse byte */
        kbd_report(b);
        changed |= kbd_byte(b);
    }
    return changed;
}
