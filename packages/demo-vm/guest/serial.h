/* COM1 (port 0x3F8) for messages a person reads: QEMU's `-serial` shows them (nothing happens
 * without a serial device). */
#ifndef GUEST_SERIAL_H
#define GUEST_SERIAL_H
#include <stdint.h>

void serial_puts(const char *s);
void serial_hex(uint32_t v); /* 0x followed by 8 hex digits */
/* Writes "guest: <what>\n" and stops the CPU for good (interrupts off). */
__attribute__((noreturn)) void serial_halt(const char *what);

#endif
