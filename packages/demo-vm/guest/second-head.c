#include "second-head.h"
#include "draw.h"
#include "serial.h"
#include "video.h"
#include "virtio-gpu.h"

/* Fixed size: the device reports no mode for a scanout no UI has enabled (GET_DISPLAY_INFO gives
 * scanout 1 disabled, 0x0, until a display client sets one). */
#define HEAD_W 960
#define HEAD_H 600
/* Its own RAM, after the main framebuffer (16..32 MiB): 32 MiB on. */
#define HEAD_FB 0x02000000u
/* Resource ids from here: the main scanout counts up from 1. */
#define HEAD_RESOURCE 0x8001u
#define HEAD_COLOUR 0x000A6E8Cu /* a steel blue field: nothing like head 0's rainbow */

static struct screen head;
static int running;

void second_head_init(uint32_t ram_end)
{
    /* The firmware keeps its tables in the top MiB of RAM. */
    if (ram_end < HEAD_FB + HEAD_W * HEAD_H * 4 + 0x100000u) {
        serial_puts("guest: second head skipped: needs -m 36 or more\n");
        return;
    }
    head.fb = (volatile uint32_t *)HEAD_FB;
    head.width = HEAD_W;
    head.height = HEAD_H;
    head.pitch = HEAD_W;
    draw_head_static(&head, 1, HEAD_COLOUR);
    draw_frame_counter(&head, 0);
    running = vgpu_scanout_start(1, HEAD_RESOURCE, HEAD_FB, HEAD_W, HEAD_H);
}

void second_head_present(uint32_t frame)
{
    if (!running)
        return;
    draw_frame_counter(&head, frame);
    /* Only row A changes: copy and flush that strip. */
    vgpu_scanout_flush(HEAD_RESOURCE, 0, ROW_A_Y, ROWS_X + CELL * ROW_A_CELLS, CELL, HEAD_W * 4);
}
