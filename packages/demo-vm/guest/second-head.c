#include "second-head.h"
#include "draw.h"
#include "serial.h"
#include "video.h"
#include "virtio-gpu.h"

/* The size it starts at: the device reports no mode for a scanout no UI has enabled
 * (GET_DISPLAY_INFO gives scanout 1 disabled, 0x0, until a display client sets one). */
#define HEAD_W 960
#define HEAD_H 600
/* Its own RAM, after the main framebuffer (16..32 MiB): 32 MiB on. */
#define HEAD_FB 0x02000000u
/* Two resource ids, taken in turn at each mode (the main scanout counts up from 1). */
#define HEAD_RESOURCE 0x8001u
#define HEAD_COLOUR 0x000A6E8Cu /* a steel blue field: nothing like head 0's rainbow */

static struct screen head;
static uint32_t resource, ram_top, presents;

/* Draws the head at width x height and shows it on scanout 1 (releasing the resource shown before);
 * returns 0 when the device has no scanout 1. */
static int show(uint32_t width, uint32_t height)
{
    head.fb = (volatile uint32_t *)HEAD_FB;
    head.width = width;
    head.height = height;
    head.pitch = width;
    draw_head_static(&head, 1, HEAD_COLOUR);
    draw_frame_counter(&head, presents);
    uint32_t next = resource == HEAD_RESOURCE ? HEAD_RESOURCE + 1 : HEAD_RESOURCE;
    if (!vgpu_scanout_start(1, next, HEAD_FB, width, height, resource))
        return 0;
    resource = next;
    return 1;
}

static int fits(uint32_t width, uint32_t height)
{
    /* The firmware keeps its tables in the top MiB of RAM. */
    return (uint64_t)HEAD_FB + (uint64_t)width * height * 4 + 0x100000u <= ram_top;
}

void second_head_init(uint32_t ram_end)
{
    ram_top = ram_end;
    if (!fits(HEAD_W, HEAD_H)) {
        serial_puts("guest: second head skipped: needs -m 36 or more\n");
        return;
    }
    (void)show(HEAD_W, HEAD_H);
}

void second_head_set_mode(uint32_t width, uint32_t height)
{
    width = width < 320 ? 320 : width > 2560 ? 2560 : width;
    height = height < 200 ? 200 : height > 1600 ? 1600 : height;
    if (!resource || (width == head.width && height == head.height) || !fits(width, height))
        return;
    (void)show(width, height);
}

void second_head_present(void)
{
    presents++;
    if (!resource)
        return;
    draw_frame_counter(&head, presents);
    /* Only row A changes: copy and flush that strip. */
    vgpu_scanout_flush(resource, 0, ROW_A_Y, ROWS_X + CELL * ROW_A_CELLS, CELL, head.width * 4);
}
