#include "pointer.h"
#include "draw.h"
#include "io.h"

#define KBC_DATA 0x60
#define KBC_STATUS 0x64
#define ST_OUT_FULL 0x01
#define ST_IN_FULL 0x02
#define ST_AUX 0x20

#define VMPORT_MAGIC 0x564D5868u
#define VMPORT_PORT 0x5658
#define VMMOUSE_DATA 39
#define VMMOUSE_STATUS 40
#define VMMOUSE_COMMAND 41
#define VMMOUSE_READ_ID 0x45414552u
#define VMMOUSE_REQUEST_ABSOLUTE 0x53424152u
#define VMMOUSE_VERSION 0x3442554Au
#define VMMOUSE_RELATIVE_PACKET 0x00010000u
#define INPUT_ABS_MAX 0x7FFF /* QEMU scales absolute positions to 0..0x7FFF */

struct pointer_state pointer;

static uint8_t packet[3];
static uint32_t have; /* bytes of the current PS/2 packet */

/* Does the command line have the word `word`? (pointer.h; serial.c uses it too) */
int has_word(const char *p, const char *word)
{
    while (p && *p) {
        while (*p == ' ' || *p == '\t')
            p++;
        const char *w = word;
        while (*w && *p == *w) {
            p++;
            w++;
        }
        if (!*w && (!*p || *p == ' ' || *p == '\t'))
            return 1;
        while (*p && *p != ' ' && *p != '\t')
            p++;
    }
    return 0;
}

static int kbc_wait_write(void)
{
    for (uint32_t n = 0; n < 1000000; n++)
        if (!(inb(KBC_STATUS) & ST_IN_FULL))
            return 1;
    return 0;
}

/* Sends one byte to the AUX device and waits for its ACK (0xFA); keyboard bytes are dropped. */
static int aux_command(uint8_t cmd)
{
    if (!kbc_wait_write())
        return 0;
    outb(KBC_STATUS, 0xD4);
    if (!kbc_wait_write())
        return 0;
    outb(KBC_DATA, cmd);
    for (uint32_t n = 0; n < 1000000; n++) {
        uint8_t st = inb(KBC_STATUS);
        if (!(st & ST_OUT_FULL))
            continue;
        uint8_t b = inb(KBC_DATA);
        if ((st & ST_AUX) && b == 0xFA)
            return 1;
    }
    return 0;
}

static void ps2_init(void)
{
    if (!kbc_wait_write())
        return;
    outb(KBC_STATUS, 0xA8); /* enable the AUX port */
    if (!aux_command(0xF6) || !aux_command(0xF4)) /* defaults, then data reporting on */
        pointer.errors++;
}

/* One vmport call: eax = magic, ebx = arg, ecx = command, dx = port; the reply in r[0..3]. */
static void vmport(uint32_t command, uint32_t arg, uint32_t r[4])
{
    uint32_t a = VMPORT_MAGIC, b = arg, c = command, d = VMPORT_PORT;
    __asm__ volatile("inl %%dx, %%eax" : "+a"(a), "+b"(b), "+c"(c), "+d"(d) : : "esi", "edi", "memory");
    r[0] = a;
    r[1] = b;
    r[2] = c;
    r[3] = d;
}

static void vmmouse_init(void)
{
    uint32_t r[4];
    vmport(VMMOUSE_COMMAND, VMMOUSE_READ_ID, r);
    vmport(VMMOUSE_STATUS, 0, r);
    if ((r[0] >> 16) == 0xFFFF || (r[0] & 0xFFFF) == 0) {
        pointer.errors++;
        return;
    }
    vmport(VMMOUSE_DATA, 1, r);
    if (r[0] != VMMOUSE_VERSION) {
        pointer.errors++;
        return;
    }
    vmport(VMMOUSE_COMMAND, VMMOUSE_REQUEST_ABSOLUTE, r);
}

void pointer_init(const struct screen *s, const char *cmdline)
{
    pointer.x = (int32_t)(s->width / 2);
    pointer.y = (int32_t)(s->height / 2);
    if (has_word(cmdline, "pointer=ps2")) {
        pointer.kind = 1;
        ps2_init();
    } else if (has_word(cmdline, "pointer=vmmouse")) {
        pointer.kind = 2;
        vmmouse_init();
    }
}

static void move_to(const struct screen *s, int32_t x, int32_t y)
{
    pointer.x = x < 0 ? 0 : x >= (int32_t)s->width ? (int32_t)s->width - 1 : x;
    pointer.y = y < 0 ? 0 : y >= (int32_t)s->height ? (int32_t)s->height - 1 : y;
    pointer.packets++;
}

/* Packet: b0 = YO XO YS XS 1 M R L, b1 = X delta, b2 = Y delta (up is positive), 9-bit signed. */
static void ps2_byte(const struct screen *s, uint8_t b)
{
    if (have == 0 && !(b & 0x08)) {
        pointer.errors++; /* not a first byte: out of sync, wait for one */
        return;
    }
    packet[have++] = b;
    if (have < 3)
        return;
    have = 0;
    int32_t dx = (int32_t)packet[1] - ((packet[0] & 0x10) ? 256 : 0);
    int32_t dy = (int32_t)packet[2] - ((packet[0] & 0x20) ? 256 : 0);
    pointer.buttons = packet[0] & 0x07;
    move_to(s, pointer.x + dx, pointer.y - dy);
}

static int ps2_poll(const struct screen *s)
{
    uint32_t before = pointer.packets;
    for (int n = 0; n < 96; n++) {
        uint8_t st = inb(KBC_STATUS);
        if ((st & (ST_OUT_FULL | ST_AUX)) != (ST_OUT_FULL | ST_AUX))
            break; /* empty, or a keyboard byte first: kbd_poll takes it */
        ps2_byte(s, inb(KBC_DATA));
    }
    return pointer.packets != before;
}

static int vmmouse_poll(const struct screen *s)
{
    uint32_t before = pointer.packets;
    uint32_t r[4];
    vmport(VMMOUSE_STATUS, 0, r);
    if ((r[0] >> 16) == 0xFFFF) {
        pointer.errors++;
        return 0;
    }
    for (uint32_t queued = r[0] & 0xFFFF; queued >= 4; queued -= 4) {
        vmport(VMMOUSE_DATA, 4, r); /* buttons, x, y, z */
        if (r[0] & VMMOUSE_RELATIVE_PACKET) {
            move_to(s, pointer.x + (int32_t)r[1], pointer.y + (int32_t)r[2]);
        } else {
            /* QEMU sends 2 * floor(px * 0x7FFF / W): px = ceil(v * W / 0x7FFF) is exact. */
            uint32_t vx = r[1] >> 1, vy = r[2] >> 1;
            move_to(s, (int32_t)((vx * s->width + INPUT_ABS_MAX - 1) / INPUT_ABS_MAX),
                    (int32_t)((vy * s->height + INPUT_ABS_MAX - 1) / INPUT_ABS_MAX));
        }
        pointer.buttons = r[0] & 0x38;
    }
    return pointer.packets != before;
}

int pointer_poll(const struct screen *s)
{
    if (pointer.kind == 1)
        return ps2_poll(s);
    if (pointer.kind == 2)
        return vmmouse_poll(s);
    return 0;
}

/* The status panel and the marker frame are never drawn over. */
static int in_status_area(const struct screen *s, uint32_t x, uint32_t y)
{
    uint32_t frame = MARKER_SIZE + 2 * MARKER_FRAME;
    if (x < PANEL_W && y < PANEL_H)
        return 1;
    return x + frame >= s->width && y < frame;
}

static void plot(const struct screen *s, int32_t x, int32_t y)
{
    if (x < 0 || y < 0 || x >= (int32_t)s->width || y >= (int32_t)s->height)
        return;
    if (in_status_area(s, (uint32_t)x, (uint32_t)y))
        return;
    s->fb[(uint32_t)y * s->pitch + (uint32_t)x] = POINTER_COLOUR;
}

void pointer_draw_rows(const struct screen *s, uint32_t y0, uint32_t y1)
{
    if (!pointer.kind)
        return;
    int32_t top = pointer.y - POINTER_ARM, bottom = pointer.y + POINTER_ARM;
    for (int32_t y = top < (int32_t)y0 ? (int32_t)y0 : top; y <= bottom && y < (int32_t)y1; y++) {
        if (y == pointer.y) {
            for (int32_t x = pointer.x - POINTER_ARM; x <= pointer.x + POINTER_ARM; x++)
                plot(s, x, y);
        } else {
            plot(s, pointer.x, y);
        }
    }
}
