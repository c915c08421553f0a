/* A virtio-gpu 2D display (PCI 1af4:1050, virtio 1.0): the guest draws into its own RAM and each
 * frame is copied to the host and flushed to the display (TRANSFER_TO_HOST_2D + RESOURCE_FLUSH). */
#ifndef GUEST_VIRTIO_GPU_H
#define GUEST_VIRTIO_GPU_H
#include <stdint.h>
#include "video.h"

/* Finds and starts the device; returns 0 when there is none. Once one is found, any failure
 * halts with a message on the serial port. ram_end: the end of the guest's RAM (physical). */
int vgpu_init(uint32_t ram_end);
/* A new resource of width x height (cleared to black), shown from the next vgpu_present on. */
void vgpu_set_mode(struct screen *s, uint32_t width, uint32_t height);
/* The host asked for another mode (Console.SetUIInfo raised VIRTIO_GPU_EVENT_DISPLAY): reads the
 * display info, clears the event, and gives scanout 0's size; 0 when there is no new hint. */
int vgpu_display_hint(uint32_t *width, uint32_t *height);
/* The size the last display hint gave a scanout; 0 when it was disabled (or no hint came yet). */
int vgpu_hinted_mode(uint32_t scanout, uint32_t *width, uint32_t *height);
/* Copies the whole frame to the host and flushes it to the display. */
void vgpu_present(const struct screen *s);

/* Another scanout (second-head.c): a resource of its own (id not used by the calls above) backed by
 * the RAM at fb, copied to the host and shown on scanout_id; then old_resource_id (0: none), the one
 * shown before, is released. Returns 0, having released the new one, when the device has no such
 * scanout (it answers INVALID_SCANOUT_ID); anything else failing halts. */
int vgpu_scanout_start(uint32_t scanout_id, uint32_t resource_id, uint32_t fb, uint32_t width, uint32_t height,
                       uint32_t old_resource_id);
/* Copies a rectangle of such a resource to the host and flushes it (stride: bytes per row in RAM). */
void vgpu_scanout_flush(uint32_t resource_id, uint32_t x, uint32_t y, uint32_t width, uint32_t height,
                        uint32_t stride);

#endif
