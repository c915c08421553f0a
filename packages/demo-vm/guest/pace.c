/* PIT channel 0 at a fixed rate on IRQ0 (PIC remapped to vectors 0x20..0x2F, every other IRQ
 * masked: the keyboard stays polled), and an IDT whose only live gate counts the ticks. */
#include "pace.h"
#include "io.h"

#define PIT_HZ 1193182u
#define IRQ0_VECTOR 0x20

struct idt_gate {
    uint16_t offset_lo, selector;
    uint8_t zero, type_attr;
    uint16_t offset_hi;
} __attribute__((packed));

struct idt_ptr {
    uint16_t limit;
    uint32_t base;
} __attribute__((packed));

static struct idt_gate idt[256];
static uint32_t paced;
volatile uint32_t pace_ticks;

/* IRQ0: count the tick, acknowledge the PIC, return. */
void pace_irq0(void);
__asm__(".text\n"
        ".globl pace_irq0\n"
        "pace_irq0:\n"
        "  pushl %eax\n"
        "  incl pace_ticks\n"
        "  movb $0x20, %al\n"
        "  outb %al, $0x20\n"
        "  popl %eax\n"
        "  iret\n");

void pace_init(uint32_t hz)
{
    if (hz == 0)
        return;
    uint16_t cs;
    __asm__ volatile("mov %%cs, %0" : "=r"(cs));
    uint32_t handler = (uint32_t)&pace_irq0;
    idt[IRQ0_VECTOR] = (struct idt_gate){(uint16_t)handler, cs, 0, 0x8E, (uint16_t)(handler >> 16)};
    struct idt_ptr ptr = {sizeof idt - 1, (uint32_t)idt};
    __asm__ volatile("lidt %0" : : "m"(ptr));

    /* Remap the PICs (ICW1..ICW4), then mask everything but IRQ0. */
    outb(0x20, 0x11);
    outb(0xA0, 0x11);
    outb(0x21, IRQ0_VECTOR);
    outb(0xA1, IRQ0_VECTOR + 8);
    outb(0x21, 0x04);
    outb(0xA1, 0x02);
    outb(0x21, 0x01);
    outb(0xA1, 0x01);
    outb(0x21, 0xFE);
    outb(0xA1, 0xFF);

    uint32_t divisor = PIT_HZ / hz;
    outb(0x43, 0x34); /* channel 0, lobyte/hibyte, mode 2 (rate generator) */
    outb(0x40, (uint8_t)divisor);
    outb(0x40, (uint8_t)(divisor >> 8));
    paced = 1;
}

void pace_wait(void)
{
    if (!paced)
        return;
    uint32_t seen = pace_ticks;
    while (pace_ticks == seen)
        __asm__ volatile("sti; hlt; cli" ::: "memory"); /* sti's shadow makes sti;hlt atomic */
}
