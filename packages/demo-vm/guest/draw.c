#include "draw.h"
#include "kbd.h"

#define WHITE 0x00FFFFFFu
#define BLACK 0x00000000u
#define GREY 0x00808080u

#define TEX_N 8192u     /* power of two */
#define MAX_W 2560u
static uint32_t tex[TEX_N + MAX_W]; /* one colourful row, read at a moving offset */

static uint32_t hash32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7FEB352Du;
    x ^= x >> 15;
    x *= 0x846CA68Bu;
    x ^= x >> 16;
    return x;
}

/* Rainbow along the texture, dark stripes every 64 texels, and per-texel noise. */
static void make_texture(void)
{
    for (uint32_t i = 0; i < TEX_N; i++) {
        uint32_t h = (i * 6 * 256 / TEX_N) % (6 * 256); /* hue 0..1535, one turn */
        uint32_t seg = h >> 8, f = h & 0xFF, r, g, b;
        switch (seg) {
        case 0: r = 255; g = f; b = 0; break;
        case 1: r = 255 - f; g = 255; b = 0; break;
        case 2: r = 0; g = 255; b = f; break;
        case 3: r = 0; g = 255 - f; b = 255; break;
        case 4: r = f; g = 0; b = 255; break;
        default: r = 255; g = 0; b = 255 - f; break;
        }
        if (((i >> 4) & 3) == 0) { /* stripe: become diagonal since rows shift */
            r >>= 2;
            g >>= 2;
            b >>= 2;
        }
        uint32_t n = hash32(i) & 0x030303u; /* fine grain, as in photos and text antialiasing */
        uint32_t c = (r << 16) | (g << 8) | b;
        c ^= n;
        if ((c & 0xFFFFFFu) == WHITE || (c & 0xFFFFFFu) == BLACK)
            c ^= 0x010101u;
        tex[i] = c;
    }
    for (uint32_t i = 0; i < MAX_W; i++)
        tex[TEX_N + i] = tex[i];
}

static void fill_rect(const struct screen *s, uint32_t x, uint32_t y, uint32_t w, uint32_t h, uint32_t c)
{
    if (x >= s->width || y >= s->height)
        return;
    if (w > s->width - x)
        w = s->width - x;
    if (h > s->height - y)
        h = s->height - y;
    for (uint32_t j = 0; j < h; j++) {
        volatile uint32_t *p = s->fb + (y + j) * s->pitch + x;
        for (uint32_t i = 0; i < w; i++)
            p[i] = c;
    }
}

static void copy_xor(volatile uint32_t *dst, const uint32_t *src, uint32_t n, uint32_t m)
{
    uint32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        dst[i + 0] = src[i + 0] ^ m;
        dst[i + 1] = src[i + 1] ^ m;
        dst[i + 2] = src[i + 2] ^ m;
        dst[i + 3] = src[i + 3] ^ m;
        dst[i + 4] = src[i + 4] ^ m;
        dst[i + 5] = src[i + 5] ^ m;
        dst[i + 6] = src[i + 6] ^ m;
        dst[i + 7] = src[i + 7] ^ m;
    }
    for (; i < n; i++)
        dst[i] = src[i] ^ m;
}

void draw_pattern_rows(const struct screen *s, uint32_t t, uint32_t y0, uint32_t y1)
{
    uint32_t w = s->width;
    uint32_t marker_x = w > MARKER_SIZE + 2 * MARKER_FRAME ? w - (MARKER_SIZE + 2 * MARKER_FRAME) : 0;
    for (uint32_t y = y0; y < y1 && y < s->height; y++) {
        uint32_t x0 = y < PANEL_H ? PANEL_W : 0;
        uint32_t x1 = y < MARKER_SIZE + 2 * MARKER_FRAME ? marker_x : w;
        if (x0 >= x1)
            continue;
        /* Bands of 128 rows scroll at 1..4 px per frame (like a scrolled page: real detail, real
         * motion an encoder can follow); rows shift by 3 (diagonals). */
        uint32_t speed = 1 + ((y >> 7) & 3);
        uint32_t off = (y * 3 + t * speed) & (TEX_N - 1);
        /* A fixed tint per row. */
        uint32_t m = hash32(y * 0x9E3779B1u) & 0x1F1F1Fu;
        copy_xor(s->fb + y * s->pitch + x0, tex + off + x0, x1 - x0, m);
    }
}

/* Cell colours of one status row, drawn scanline by scanline across all cells: a copy taken
 * mid-draw cuts every cell at the same line, so all changed cells read either old or new. */
struct cells {
    uint32_t n;
    uint32_t colour[ROW_B_CELLS];
};

static void put_bits(struct cells *c, uint32_t value, uint32_t nbits)
{
    while (nbits-- > 0)
        c->colour[c->n++] = (value >> nbits) & 1 ? WHITE : BLACK;
}

static void draw_cells(const struct screen *s, uint32_t y, const struct cells *c)
{
    for (uint32_t line = 0; line < CELL && y + line < s->height; line++) {
        volatile uint32_t *row = s->fb + (y + line) * s->pitch;
        for (uint32_t i = 0; i < c->n; i++) {
            uint32_t x = ROWS_X + CELL * i;
            for (uint32_t k = 0; k < CELL && x + k < s->width; k++)
                row[x + k] = c->colour[i];
        }
    }
}

void draw_frame_counter(const struct screen *s, uint32_t frame)
{
    struct cells c = {0};
    put_bits(&c, 2, 2); /* sync: white, black */
    put_bits(&c, frame, 32);
    draw_cells(s, ROW_A_Y, &c);
}

void draw_key_status(const struct screen *s)
{
    uint32_t w = s->width;
    if (w >= MARKER_SIZE + MARKER_FRAME)
        fill_rect(s, w - (MARKER_SIZE + MARKER_FRAME), MARKER_FRAME, MARKER_SIZE, MARKER_SIZE,
                  kbd.marker ? WHITE : BLACK);
    struct cells c = {0};
    put_bits(&c, 2, 2); /* sync: white, black */
    put_bits(&c, kbd.scancode & 0xFFFF, 16);
    put_bits(&c, kbd.presses & 0xFFFF, 16);
    put_bits(&c, kbd.held > 255 ? 255 : kbd.held, 8);
    draw_cells(s, ROW_B_Y, &c);
}

void draw_static(const struct screen *s, uint32_t frame)
{
    uint32_t w = s->width;
    if (w >= MARKER_SIZE + 2 * MARKER_FRAME)
        fill_rect(s, w - (MARKER_SIZE + 2 * MARKER_FRAME), 0, MARKER_SIZE + 2 * MARKER_FRAME,
                  MARKER_SIZE + 2 * MARKER_FRAME, GREY);
    fill_rect(s, 0, 0, PANEL_W, PANEL_H, BLACK);
    draw_key_status(s);
    draw_frame_counter(s, frame);
}

void draw_init(const struct screen *s)
{
    make_texture();
    draw_static(s, 0);
}

void draw_head_static(const struct screen *s, uint32_t head, uint32_t colour)
{
    fill_rect(s, 0, 0, s->width, s->height, colour);
    uint32_t w = s->width;
    if (w >= MARKER_SIZE + 2 * MARKER_FRAME) {
        fill_rect(s, w - (MARKER_SIZE + 2 * MARKER_FRAME), 0, MARKER_SIZE + 2 * MARKER_FRAME,
                  MARKER_SIZE + 2 * MARKER_FRAME, GREY);
        fill_rect(s, w - (MARKER_SIZE + MARKER_FRAME), MARKER_FRAME, MARKER_SIZE, MARKER_SIZE, BLACK);
    }
    fill_rect(s, 0, 0, PANEL_W, PANEL_H, BLACK);
    struct cells c = {0};
    put_bits(&c, 2, 2); /* sync: white, black */
    put_bits(&c, head & 0xFFFF, 16);
    put_bits(&c, 0, 24);
    draw_cells(s, ROW_B_Y, &c);
}
