/* COM1 (port 0x3F8) for messages a person reads: QEMU's `-serial` shows them (nothing happens
 * without a serial device). */
#ifndef GUEST_SERIAL_H
#define GUEST_SERIAL_H
#include <stdint.h>

void serial_puts(const char *s);
void serial_hex(uint32_t v); /* 0x followed by 8 hex digits */
/* Writes "guest: <what>\n" and stops the CPU for good (interrupts off). */
__attribute__((noreturn)) void serial_halt(const char *what);

/* The serial console (`serial` on the command line): a banner line at boot. Echo is always on. */
void serial_console_init(const char *cmdline);
/* With the serial console on: a line "... up N s" (main.c calls it every 10 s of frames). */
void serial_console_tick(uint32_t seconds);
/* Echoes what COM1 received (at most 64 bytes a call; CR also gets LF). Silent without input. */
void serial_echo_poll(void);

#endif
