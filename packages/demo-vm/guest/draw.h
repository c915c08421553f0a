/* What the guest draws: a moving pattern and the status blocks (see README.md). */
#ifndef GUEST_DRAW_H
#define GUEST_DRAW_H
#include <stdint.h>
#include "video.h"

#define CELL 16
#define ROWS_X 16           /* first cell of both rows */
#define ROW_A_Y 16          /* frame counter */
#define ROW_B_Y 40          /* scancode, presses, held */
#define ROW_A_CELLS 34      /* 2 sync + 32 bits */
#define ROW_B_CELLS 42      /* 2 sync + 16 + 16 + 8 bits */
#define PANEL_W 704         /* black panel behind the rows: (0,0)..(703,71) */
#define PANEL_H 72
#define MARKER_SIZE 192     /* square at (W-208, 16) */
#define MARKER_FRAME 16     /* mid-grey frame: (W-224, 0)..(W-1, 223) */

void draw_init(const struct screen *s);
/* Everything but the pattern, at the screen's current size (after draw_init or a mode change). */
void draw_static(const struct screen *s, uint32_t frame);
/* Pattern for frame t, rows y0..y1-1 (never under the panel or the marker frame). */
void draw_pattern_rows(const struct screen *s, uint32_t t, uint32_t y0, uint32_t y1);
void draw_frame_counter(const struct screen *s, uint32_t frame);
void draw_key_status(const struct screen *s); /* row B and the marker, from kbd */
/* Another head's picture (second-head.c): `colour` everywhere, the marker frame with a black marker,
 * the panel, row B with the head's number where head 0 has the last scancode (the rest 0). */
void draw_head_static(const struct screen *s, uint32_t head, uint32_t colour);

#endif
