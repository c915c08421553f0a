#include "video.h"
#include "io.h"

#define VBE_INDEX 0x1CE
#define VBE_DATA 0x1CF
#define VBE_XRES 1
#define VBE_YRES 2
#define VBE_BPP 3
#define VBE_ENABLE 4
#define VBE_VIRT_WIDTH 6
#define VBE_X_OFFSET 8
#define VBE_Y_OFFSET 9
#define VBE_ENABLED 0x01
#define VBE_LFB_ENABLED 0x40

#define FB_FALLBACK 0xFD000000u /* where SeaBIOS usually puts BAR0 */

static void vbe_write(uint16_t index, uint16_t value)
{
    outw(VBE_INDEX, index);
    outw(VBE_DATA, value);
}

static uint16_t vbe_read(uint16_t index)
{
    outw(VBE_INDEX, index);
    return inw(VBE_DATA);
}

static uint32_t pci_read(uint32_t dev, uint32_t fn, uint32_t off)
{
    outl(0xCF8, 0x80000000u | (dev << 11) | (fn << 8) | (off & 0xFC));
    return inl(0xCFC);
}

static void pci_write(uint32_t dev, uint32_t fn, uint32_t off, uint32_t v)
{
    outl(0xCF8, 0x80000000u | (dev << 11) | (fn << 8) | (off & 0xFC));
    outl(0xCFC, v);
}

/* BAR0 of the first 1234:1111 on bus 0, with memory decoding on. */
static uint32_t find_framebuffer(void)
{
    for (uint32_t dev = 0; dev < 32; dev++) {
        for (uint32_t fn = 0; fn < 8; fn++) {
            uint32_t id = pci_read(dev, fn, 0x00);
            if (id == 0x11111234u) {
                uint32_t cmd = pci_read(dev, fn, 0x04);
                if (!(cmd & 0x2))
                    pci_write(dev, fn, 0x04, (cmd & 0xFFFFu) | 0x2);
                uint32_t bar = pci_read(dev, fn, 0x10) & 0xFFFFFFF0u;
                return bar ? bar : FB_FALLBACK;
            }
            if (fn == 0 && !(pci_read(dev, 0, 0x0C) & 0x00800000u))
                break; /* not multi-function (or absent) */
        }
    }
    return FB_FALLBACK;
}

void video_set_mode(struct screen *s, uint32_t width, uint32_t height)
{
    /* Disabled first: QEMU resets the virtual width and offsets only on a disabled -> enabled edge. */
    vbe_write(VBE_ENABLE, 0);
    vbe_write(VBE_XRES, (uint16_t)width);
    vbe_write(VBE_YRES, (uint16_t)height);
    vbe_write(VBE_BPP, 32);
    vbe_write(VBE_X_OFFSET, 0);
    vbe_write(VBE_Y_OFFSET, 0);
    vbe_write(VBE_ENABLE, VBE_ENABLED | VBE_LFB_ENABLED);

    /* Un-blank: reset the attribute controller flip-flop, then set PAS. */
    (void)inb(0x3DA);
    outb(0x3C0, 0x20);

    s->width = vbe_read(VBE_XRES);
    s->height = vbe_read(VBE_YRES);
    s->pitch = vbe_read(VBE_VIRT_WIDTH);
    if (s->pitch < s->width)
        s->pitch = s->width;
}

void video_init(struct screen *s, uint32_t width, uint32_t height)
{
    s->fb = (volatile uint32_t *)find_framebuffer();
    video_set_mode(s, width, height);
}
