/* A second display head: on a virtio-gpu with two scanouts or more (QEMU's
 * `virtio-gpu-pci,max_outputs=2`), scanout 1 shows a picture of its own (README.md, Heads). */
#ifndef GUEST_SECOND_HEAD_H
#define GUEST_SECOND_HEAD_H
#include <stdint.h>

/* Tries scanout 1 of the virtio-gpu (started already); nothing happens when the device has one
 * scanout or the RAM is too small. ram_end: the end of the guest's RAM (physical). */
void second_head_init(uint32_t ram_end);
/* Draws the head's frame counter and sends it to the display (nothing when there is no head). */
void second_head_present(uint32_t frame);

#endif
