#include "serial.h"
#include "io.h"
#include "pointer.h"

#define COM1 0x3F8
#define LSR_THR_EMPTY 0x20
#define LSR_DATA_READY 0x01

static int ready;

/* 115200 8N1, FIFO on; QEMU ignores the rate, a real UART would not. */
static void serial_init(void)
{
    outb(COM1 + 1, 0x00); /* no interrupts */
    outb(COM1 + 3, 0x80); /* divisor latch */
    outb(COM1 + 0, 0x01);
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x03); /* 8N1 */
    outb(COM1 + 2, 0xC7); /* FIFO on, cleared, receive trigger at 14 bytes: QEMU then feeds up to
                           * 14 typed bytes at once instead of 1 (the echo keeps up with a paste) */
    ready = 1;
}

static void put(char c)
{
    /* Bounded: with no UART present the status port reads 0xFF, with a stuck one we give up. */
    for (uint32_t n = 0; n < 100000 && !(inb(COM1 + 5) & LSR_THR_EMPTY); n++)
        ;
    outb(COM1, (uint8_t)c);
}

void serial_puts(const char *s)
{
    if (!ready)
        serial_init();
    for (; *s; s++) {
        if (*s == '\n')
            put('\r');
        put(*s);
    }
}

void serial_hex(uint32_t v)
{
    char buf[11] = "0x";
    for (int i = 0; i < 8; i++)
        buf[2 + i] = "0123456789abcdef"[(v >> (28 - 4 * i)) & 0xF];
    buf[10] = 0;
    serial_puts(buf);
}

void serial_halt(const char *what)
{
    serial_puts("guest: ");
    serial_puts(what);
    serial_puts("\n");
    for (;;)
        __asm__ volatile("cli; hlt");
}

static int console_on;

void serial_console_init(const char *cmdline)
{
    if (!ready)
        serial_init();
    console_on = has_word(cmdline, "serial");
    if (console_on)
        serial_puts("qemu-webrtc test guest: serial console on COM1, typing echoes\n");
}

static void put_dec(uint32_t v)
{
    char buf[11];
    int i = 10;
    buf[i] = 0;
    do {
        buf[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v && i > 0);
    serial_puts(buf + i);
}

void serial_console_tick(uint32_t seconds)
{
    if (!console_on)
        return;
    serial_puts("qemu-webrtc test guest: up ");
    put_dec(seconds);
    serial_puts(" s\n");
}

void serial_echo_poll(void)
{
    if (!ready)
        serial_init();
    for (int n = 0; n < 64; n++) {
        uint8_t lsr = inb(COM1 + 5);
        /* No UART reads 0xFF. */
        if (lsr == 0xFF || !(lsr & LSR_DATA_READY))
            return;
        char c = (char)inb(COM1);
        put(c);
        if (c == '\r')
            put('\n');
    }
}
