/* The screen: a Bochs VBE mode of the std VGA (PCI 1234:1111), or a virtio-gpu 2D scanout
 * (PCI 1af4:1050) when one is present. */
#ifndef GUEST_VIDEO_H
#define GUEST_VIDEO_H
#include <stdint.h>

struct screen {
    volatile uint32_t *fb; /* linear framebuffer, bytes B,G,R,X */
    uint32_t width;        /* as the device accepted it (VBE rounds XRES down to a multiple of 8) */
    uint32_t height;
    uint32_t pitch;        /* in pixels */
};

/* Sets a 32-bpp mode as close to width x height as the device allows. ram_end: the end of the
 * guest's RAM (virtio-gpu's framebuffer is guest RAM). */
void video_init(struct screen *s, uint32_t width, uint32_t height, uint32_t ram_end);
/* Changes the mode of an initialised screen (the framebuffer is cleared). */
void video_set_mode(struct screen *s, uint32_t width, uint32_t height);
/* Shows what was drawn: nothing to do for VBE (the device scans out the framebuffer itself);
 * virtio-gpu copies the frame to the host and flushes it. */
void video_present(const struct screen *s);

/* A mode the display asks for (virtio-gpu's display event; VBE has none): 1 and its size, else 0. */
int video_display_hint(uint32_t *width, uint32_t *height);

#endif
