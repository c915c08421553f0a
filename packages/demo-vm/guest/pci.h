/* PCI configuration space through ports 0xCF8/0xCFC (bus 0 only: QEMU's pc machine has no bridges
 * by default), and memory BARs placed where a 32-bit guest without paging can reach them. */
#ifndef GUEST_PCI_H
#define GUEST_PCI_H
#include <stdint.h>

struct pci_dev {
    uint32_t dev, fn; /* on bus 0 */
};

#define PCI_COMMAND 0x04
#define PCI_CMD_MEMORY 0x2
#define PCI_CMD_BUS_MASTER 0x4

uint32_t pci_read32(const struct pci_dev *d, uint32_t off);
uint8_t pci_read8(const struct pci_dev *d, uint32_t off);
void pci_write32(const struct pci_dev *d, uint32_t off, uint32_t v);
/* The first function on bus 0 with this vendor:device id; returns 0 when there is none. */
int pci_find(uint16_t vendor, uint16_t device, struct pci_dev *out);
/* Sets bits in the command register (memory decoding, bus mastering). */
void pci_enable(const struct pci_dev *d, uint32_t command_bits);
/* The physical address of memory BAR `bar`, below 4 GiB: a 64-bit BAR placed above 4 GiB is moved
 * to a free 32-bit address first. Returns 0 for an I/O BAR, an empty one, or no room. */
uint32_t pci_bar_address(const struct pci_dev *d, uint32_t bar, uint32_t ram_end);

#endif
