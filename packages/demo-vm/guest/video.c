#include "video.h"
#include "io.h"
#include "pci.h"
#include "second-head.h"
#include "virtio-gpu.h"

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

/* BAR0 of the first 1234:1111 on bus 0, with memory decoding on. */
static uint32_t find_framebuffer(void)
{
    struct pci_dev d;
    if (!pci_find(0x1234, 0x1111, &d))
        return FB_FALLBACK;
    pci_enable(&d, PCI_CMD_MEMORY);
    uint32_t bar = pci_read32(&d, 0x10) & 0xFFFFFFF0u;
    return bar ? bar : FB_FALLBACK;
}

static void vbe_set_mode(struct screen *s, uint32_t width, uint32_t height)
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

static int virtio; /* a virtio-gpu was found: draw in RAM, present each frame */

void video_set_mode(struct screen *s, uint32_t width, uint32_t height)
{
    if (virtio)
        vgpu_set_mode(s, width, height);
    else
        vbe_set_mode(s, width, height);
}

void video_init(struct screen *s, uint32_t width, uint32_t height, uint32_t ram_end)
{
    virtio = vgpu_init(ram_end);
    if (virtio)
        second_head_init(ram_end);
    if (!virtio)
        s->fb = (volatile uint32_t *)find_framebuffer();
    video_set_mode(s, width, height);
}

void video_present(const struct screen *s)
{
    if (virtio) {
        vgpu_present(s);
        second_head_present();
    }
}

int video_display_hint(uint32_t *width, uint32_t *height)
{
    if (!virtio)
        return 0;
    int hinted = vgpu_display_hint(width, height);
    /* The second head follows its own console's hint (a no-op when its size is unchanged). */
    uint32_t w, h;
    if (vgpu_hinted_mode(1, &w, &h))
        second_head_set_mode(w, h);
    return hinted;
}
