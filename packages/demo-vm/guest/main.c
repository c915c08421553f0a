/* The test guest: a moving pattern plus machine-readable status blocks (README.md). */
#include <stdint.h>
#include "draw.h"
#include "kbd.h"
#include "pointer.h"
#include "pace.h"
#include "serial.h"
#include "video.h"

#define MB_BOOT_MAGIC 0x2BADB002u
#define MB_INFO_MEMORY (1u << 0)
#define MB_INFO_CMDLINE (1u << 2)
#define DEFAULT_W 1280
#define DEFAULT_H 720
#define DEFAULT_ALT_W 1024 /* the other mode F12 switches to */
#define DEFAULT_ALT_H 768
#define BAND 64 /* rows drawn between keyboard polls */
#define FPS 60  /* frames drawn per second (PIT-paced) */

struct multiboot_info {
    uint32_t flags, mem_lower, mem_upper, boot_device, cmdline;
};

/* Parses "WxH" from [p, end); returns 0 when it is anything else. */
static int parse_size(const char *p, const char *end, uint32_t *w, uint32_t *h)
{
    uint32_t v[2] = {0, 0};
    int k = 0, digits = 0;
    for (; p < end; p++) {
        if (*p >= '0' && *p <= '9') {
            if (v[k] > 100000)
                return 0;
            v[k] = v[k] * 10 + (uint32_t)(*p - '0');
            digits++;
        } else if ((*p == 'x' || *p == 'X') && k == 0 && digits) {
            k = 1;
            digits = 0;
        } else {
            return 0;
        }
    }
    if (k != 1 || !digits)
        return 0;
    *w = v[0];
    *h = v[1];
    return 1;
}

struct modes {
    uint32_t w[2], h[2]; /* [0] from the command line, [1] the alternate F12 switches to */
};

static void clamp_size(uint32_t *w, uint32_t *h)
{
    *w = *w < 320 ? 320 : *w > 2560 ? 2560 : *w;
    *h = *h < 200 ? 200 : *h > 1600 ? 1600 : *h;
}

/* Parses "WxH" or "WxH,AxB" from [p, end); returns 0 when it is anything else. */
static int parse_modes(const char *p, const char *end, struct modes *m)
{
    const char *comma = p;
    while (comma < end && *comma != ',')
        comma++;
    uint32_t w, h, aw = DEFAULT_ALT_W, ah = DEFAULT_ALT_H;
    if (!parse_size(p, comma, &w, &h))
        return 0;
    if (comma < end && !parse_size(comma + 1, end, &aw, &ah))
        return 0;
    clamp_size(&w, &h);
    clamp_size(&aw, &ah);
    m->w[0] = w;
    m->h[0] = h;
    m->w[1] = aw;
    m->h[1] = ah;
    return 1;
}

/* QEMU passes "<kernel path> <-append>": use the last word that is WxH or WxH,AxB. */
static void screen_modes(uint32_t magic, const struct multiboot_info *mbi, struct modes *m)
{
    m->w[0] = DEFAULT_W;
    m->h[0] = DEFAULT_H;
    m->w[1] = DEFAULT_ALT_W;
    m->h[1] = DEFAULT_ALT_H;
    if (magic != MB_BOOT_MAGIC || !(mbi->flags & MB_INFO_CMDLINE) || !mbi->cmdline)
        return;
    const char *p = (const char *)mbi->cmdline;
    while (*p) {
        while (*p == ' ' || *p == '\t')
            p++;
        const char *word = p;
        while (*p && *p != ' ' && *p != '\t')
            p++;
        if (p > word)
            (void)parse_modes(word, p, m);
    }
}

/* The end of RAM from 1 MiB up (multiboot's mem_upper, KiB); 0 when the loader did not say. */
static uint32_t ram_end(uint32_t magic, const struct multiboot_info *mbi)
{
    if (magic != MB_BOOT_MAGIC || !(mbi->flags & MB_INFO_MEMORY) || mbi->mem_upper > (0xFFF00000u >> 10))
        return 0;
    return 0x100000u + (mbi->mem_upper << 10);
}

/* The display asked for another size (virtio-gpu: the host's window): take it, clamped like
 * -append, as F12 does. */
static void follow_display_hint(struct screen *s, uint32_t frame)
{
    uint32_t w, h;
    if (!video_display_hint(&w, &h))
        return;
    clamp_size(&w, &h);
    if (w == s->width && h == s->height)
        return;
    video_set_mode(s, w, h);
    draw_static(s, frame);
    video_present(s);
}

void guest_main(uint32_t magic, const struct multiboot_info *mbi)
{
    struct screen s;
    struct modes modes;
    uint32_t mode = 0; /* index into modes: the parity of F12 presses */
    screen_modes(magic, mbi, &modes);
    video_init(&s, modes.w[0], modes.h[0], ram_end(magic, mbi));
    draw_init(&s);
    video_present(&s);
    pointer_init(&s, magic == MB_BOOT_MAGIC && (mbi->flags & MB_INFO_CMDLINE) ? (const char *)mbi->cmdline : 0);
    serial_console_init(magic == MB_BOOT_MAGIC && (mbi->flags & MB_INFO_CMDLINE) ? (const char *)mbi->cmdline : 0);
    pace_init(FPS);
    for (uint32_t frame = 0;; frame++) {
        pace_wait();
        if (frame > 0 && frame % (10 * FPS) == 0)
            serial_console_tick(frame / FPS);
        for (uint32_t y = 0; y < s.height; y += BAND) {
            draw_pattern_rows(&s, frame, y, y + BAND);
            pointer_poll(&s);
            pointer_draw_rows(&s, y, y + BAND);
            serial_echo_poll();
            if (kbd_poll()) {
                if ((kbd.f12 & 1) != mode)
                    break; /* the rest of this frame would be drawn at the old size */
                draw_key_status(&s);
            }
        }
        if ((kbd.f12 & 1) != mode) {
            /* F12: the other mode; the device clears the framebuffer, redraw all but the pattern. */
            mode = kbd.f12 & 1;
            video_set_mode(&s, modes.w[mode], modes.h[mode]);
            draw_static(&s, frame);
            video_present(&s);
            continue;
        }
        draw_key_status(&s);
        draw_frame_counter(&s, frame);
        video_present(&s); /* virtio-gpu: the frame reaches the display now, whole */
        follow_display_hint(&s, frame);
    }
}
