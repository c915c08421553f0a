/*
 * PC speaker: PIT channel 2 as a square wave (mode 3) at SPEAKER_HZ, gated to the speaker by port
 * 0x61 bit 0 (the timer 2 gate) and bit 1 (speaker data). With `-machine pcspk-audiodev=ID` QEMU
 * renders it as sound on that audiodev.
 */
#include "speaker.h"
#include "io.h"

#define PIT_HZ 1193182u
#define PIT_CH2 0x42
#define PIT_CMD 0x43
#define PORT_B 0x61

void speaker_set(int on)
{
    uint8_t b = inb(PORT_B);
    if (!on) {
        outb(PORT_B, b & ~3u);
        return;
    }
    uint16_t divisor = (uint16_t)(PIT_HZ / SPEAKER_HZ);
    outb(PIT_CMD, 0xB6); /* channel 2, low then high byte, mode 3, binary */
    outb(PIT_CH2, divisor & 0xFF);
    outb(PIT_CH2, divisor >> 8);
    outb(PORT_B, b | 3u);
}
