/* Bochs VBE mode setting and the framebuffer of the std VGA (PCI 1234:1111). */
#ifndef GUEST_VIDEO_H
#define GUEST_VIDEO_H
#include <stdint.h>

struct screen {
    volatile uint32_t *fb; /* linear framebuffer, bytes B,G,R,X */
    uint32_t width;        /* as QEMU accepted it (it rounds XRES down to a multiple of 8) */
    uint32_t height;
    uint32_t pitch;        /* in pixels */
};

/* Sets a 32-bpp mode as close to width x height as the device allows. */
void video_init(struct screen *s, uint32_t width, uint32_t height);
/* Changes the mode of an initialised screen (the device clears the framebuffer). */
void video_set_mode(struct screen *s, uint32_t width, uint32_t height);

#endif
