/* A second display head: on a virtio-gpu with two scanouts or more (QEMU's
 * `virtio-gpu-pci,max_outputs=2`), scanout 1 shows a picture of its own (README.md, Heads). */
#ifndef GUEST_SECOND_HEAD_H
#define GUEST_SECOND_HEAD_H
#include <stdint.h>

/* Tries scanout 1 of the virtio-gpu (started already) at 960x600; nothing happens when the device
 * has one scanout or the RAM is too small. ram_end: the end of the guest's RAM (physical). */
void second_head_init(uint32_t ram_end);
/* Shows the head at another size (clamped to 320..2560 x 200..1600; kept when it does not fit in
 * RAM): for a resize hint on scanout 1 (GET_DISPLAY_INFO's mode of scanout 1 once a display client
 * enabled it). Nothing when there is no second head. */
void second_head_set_mode(uint32_t width, uint32_t height);
/* Counts a frame, draws the head's frame counter and sends that strip to the display. */
void second_head_present(void);

#endif
