/* A pointer for the test guest, off unless the command line asks for one:
 *   pointer=ps2      PS/2 mouse on the i8042 AUX port (relative motion)
 *   pointer=vmmouse  VMware vmmouse through the vmport backdoor (absolute positions)
 * It starts at the screen's centre and is drawn as a magenta crosshair (README.md). */
#ifndef GUEST_POINTER_H
#define GUEST_POINTER_H
#include <stdint.h>
#include "video.h"

#define POINTER_ARM 12              /* crosshair: 2*ARM+1 pixels across and down */
#define POINTER_COLOUR 0x00FF00FFu  /* magenta, x8r8g8b8 */

struct pointer_state {
    uint32_t kind;    /* 0 none, 1 ps2, 2 vmmouse */
    int32_t x, y;     /* in screen pixels */
    uint32_t buttons; /* PS/2 order: bit 0 left, 1 right, 2 middle */
    uint32_t packets; /* motion packets taken */
    uint32_t errors;  /* bytes out of sync, device errors */
};

extern struct pointer_state pointer;

/* Does the multiboot command line `p` (NULL: none) have the word `word`? */
int has_word(const char *p, const char *word);
/* Reads "pointer=..." from the multiboot command line (NULL: none) and sets the device up. */
void pointer_init(const struct screen *s, const char *cmdline);
/* Takes what the device has queued; returns non-zero when the pointer moved. */
int pointer_poll(const struct screen *s);
/* Draws the crosshair's part in rows y0..y1-1 (never over the status panel or marker frame). */
void pointer_draw_rows(const struct screen *s, uint32_t y0, uint32_t y1);

#endif
