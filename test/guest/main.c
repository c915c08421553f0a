/* The test guest: a moving pattern plus machine-readable status blocks (README.md). */
#include <stdint.h>
#include "draw.h"
#include "kbd.h"
#include "video.h"

#define MB_BOOT_MAGIC 0x2BADB002u
#define MB_INFO_CMDLINE (1u << 2)
#define DEFAULT_W 1280
#define DEFAULT_H 720
#define BAND 64 /* rows drawn between keyboard polls */

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

/* QEMU passes "<kernel path> <-append>": use the last word that is WxH. */
static void screen_size(uint32_t magic, const struct multiboot_info *mbi, uint32_t *w, uint32_t *h)
{
    *w = DEFAULT_W;
    *h = DEFAULT_H;
    if (magic != MB_BOOT_MAGIC || !(mbi->flags & MB_INFO_CMDLINE) || !mbi->cmdline)
        return;
    const char *p = (const char *)mbi->cmdline;
    while (*p) {
        while (*p == ' ' || *p == '\t')
            p++;
        const char *word = p;
        while (*p && *p != ' ' && *p != '\t')
            p++;
        uint32_t pw, ph;
        if (p > word && parse_size(word, p, &pw, &ph)) {
            *w = pw < 320 ? 320 : pw > 2560 ? 2560 : pw;
            *h = ph < 200 ? 200 : ph > 1600 ? 1600 : ph;
        }
    }
}

void guest_main(uint32_t magic, const struct multiboot_info *mbi)
{
    struct screen s;
    uint32_t w, h;
    screen_size(magic, mbi, &w, &h);
    video_init(&s, w, h);
    draw_init(&s);
    for (uint32_t frame = 0;; frame++) {
        for (uint32_t y = 0; y < s.height; y += BAND) {
            draw_pattern_rows(&s, frame, y, y + BAND);
            if (kbd_poll())
                draw_key_status(&s);
        }
        draw_key_status(&s);
        draw_frame_counter(&s, frame);
    }
}
