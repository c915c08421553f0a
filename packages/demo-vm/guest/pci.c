#include "pci.h"
#include "io.h"

#define PCI_ID 0x00
#define PCI_HEADER 0x0C /* byte 2: header type, bit 7 = multi-function */
#define PCI_BAR0 0x10
#define BAR_IO 0x1u
#define BAR_TYPE_MASK 0x6u
#define BAR_TYPE_64 0x4u
#define BAR_MEM_MASK 0xFFFFFFF0u
#define PCI_HOLE_END 0xFEC00000u /* IOAPIC and firmware above: BARs stay below */

static uint32_t address(const struct pci_dev *d, uint32_t off)
{
    return 0x80000000u | (d->dev << 11) | (d->fn << 8) | (off & 0xFC);
}

uint32_t pci_read32(const struct pci_dev *d, uint32_t off)
{
    outl(0xCF8, address(d, off));
    return inl(0xCFC);
}

uint8_t pci_read8(const struct pci_dev *d, uint32_t off)
{
    return (uint8_t)(pci_read32(d, off) >> ((off & 3) * 8));
}

void pci_write32(const struct pci_dev *d, uint32_t off, uint32_t v)
{
    outl(0xCF8, address(d, off));
    outl(0xCFC, v);
}

/* Calls fn for every present function on bus 0 until it returns non-zero. */
static int for_each_function(int (*fn)(const struct pci_dev *, void *), void *arg)
{
    for (uint32_t dev = 0; dev < 32; dev++) {
        for (uint32_t f = 0; f < 8; f++) {
            struct pci_dev d = {dev, f};
            uint32_t id = pci_read32(&d, PCI_ID);
            if ((id & 0xFFFF) != 0xFFFF && fn(&d, arg))
                return 1;
            if (f == 0 && ((id & 0xFFFF) == 0xFFFF || !(pci_read32(&d, PCI_HEADER) & 0x00800000u)))
                break; /* absent, or not multi-function */
        }
    }
    return 0;
}

struct find_arg {
    uint32_t id;
    struct pci_dev *out;
};

static int match_id(const struct pci_dev *d, void *arg)
{
    struct find_arg *a = arg;
    if (pci_read32(d, PCI_ID) != a->id)
        return 0;
    *a->out = *d;
    return 1;
}

int pci_find(uint16_t vendor, uint16_t device, struct pci_dev *out)
{
    struct find_arg a = {((uint32_t)device << 16) | vendor, out};
    return for_each_function(match_id, &a);
}

void pci_enable(const struct pci_dev *d, uint32_t command_bits)
{
    uint32_t cmd = pci_read32(d, PCI_COMMAND) & 0xFFFFu; /* the status half is write-1-to-clear */
    if ((cmd & command_bits) != command_bits)
        pci_write32(d, PCI_COMMAND, cmd | command_bits);
}

/* Lowest base of any memory BAR mapped below 4 GiB (type 0 headers only: no bridges here). */
static int lowest_bar(const struct pci_dev *d, void *arg)
{
    uint32_t *lowest = arg;
    if ((pci_read8(d, PCI_HEADER + 2) & 0x7F) != 0)
        return 0;
    for (uint32_t i = 0; i < 6; i++) {
        uint32_t v = pci_read32(d, PCI_BAR0 + 4 * i);
        if (v & BAR_IO)
            continue;
        uint32_t high = 0;
        if ((v & BAR_TYPE_MASK) == BAR_TYPE_64 && i < 5)
            high = pci_read32(d, PCI_BAR0 + 4 * ++i);
        uint32_t base = v & BAR_MEM_MASK;
        if (!high && base && base < *lowest)
            *lowest = base;
    }
    return 0;
}

/* The firmware packs BARs downwards from the top of the PCI hole: put a moved BAR just below the
 * lowest one, naturally aligned, and above the RAM. */
static uint32_t free_address(uint32_t size, uint32_t ram_end)
{
    uint32_t lowest = PCI_HOLE_END;
    for_each_function(lowest_bar, &lowest);
    if (lowest < size)
        return 0;
    uint32_t base = (lowest - size) & ~(size - 1);
    return base >= ram_end ? base : 0;
}

uint32_t pci_bar_address(const struct pci_dev *d, uint32_t bar, uint32_t ram_end)
{
    uint32_t off = PCI_BAR0 + 4 * bar;
    uint32_t lo = pci_read32(d, off);
    if (lo & BAR_IO)
        return 0;
    if ((lo & BAR_TYPE_MASK) != BAR_TYPE_64 || bar >= 5)
        return lo & BAR_MEM_MASK;
    uint32_t hi = pci_read32(d, off + 4);
    if (!hi)
        return lo & BAR_MEM_MASK;

    /* Above 4 GiB: size it (all ones, read back) with decoding off, then move it below 4 GiB. */
    uint32_t cmd = pci_read32(d, PCI_COMMAND) & 0xFFFFu;
    pci_write32(d, PCI_COMMAND, cmd & ~(uint32_t)PCI_CMD_MEMORY);
    pci_write32(d, off, 0xFFFFFFFFu);
    pci_write32(d, off + 4, 0xFFFFFFFFu);
    uint32_t size_lo = pci_read32(d, off) & BAR_MEM_MASK;
    uint32_t size_hi = pci_read32(d, off + 4);
    uint32_t base = 0;
    if (size_hi == 0xFFFFFFFFu && size_lo) /* a BAR under 4 GiB in size */
        base = free_address(~size_lo + 1, ram_end);
    if (base) {
        pci_write32(d, off, base);
        pci_write32(d, off + 4, 0);
    } else {
        pci_write32(d, off, lo);
        pci_write32(d, off + 4, hi);
    }
    pci_write32(d, PCI_COMMAND, cmd);
    return base;
}
