#include "virtio-gpu.h"
#include "pci.h"
#include "serial.h"
#include "io.h"

/* --- virtio 1.0 over PCI (virtio spec 1.x, section 4.1) --- */

#define VIRTIO_VENDOR 0x1AF4
#define VIRTIO_GPU_DEVICE 0x1050 /* 0x1040 + device type 16 */

#define PCI_STATUS_CAPS (1u << 20) /* in the dword at 0x04 */
#define PCI_CAP_PTR 0x34
#define PCI_CAP_VENDOR 0x09
#define CAP_COMMON 1
#define CAP_NOTIFY 2
#define CAP_DEVICE 4 /* struct virtio_gpu_config: events_read, events_clear, num_scanouts */

/* struct virtio_pci_common_cfg */
#define COMMON_DEVICE_FEATURE_SELECT 0x00
#define COMMON_DEVICE_FEATURE 0x04
#define COMMON_DRIVER_FEATURE_SELECT 0x08
#define COMMON_DRIVER_FEATURE 0x0C
#define COMMON_STATUS 0x14
#define COMMON_QUEUE_SELECT 0x16
#define COMMON_QUEUE_SIZE 0x18
#define COMMON_QUEUE_ENABLE 0x1C
#define COMMON_QUEUE_NOTIFY_OFF 0x1E
#define COMMON_QUEUE_DESC 0x20
#define COMMON_QUEUE_DRIVER 0x28
#define COMMON_QUEUE_DEVICE 0x30

#define STATUS_ACKNOWLEDGE 1
#define STATUS_DRIVER 2
#define STATUS_DRIVER_OK 4
#define STATUS_FEATURES_OK 8
#define FEATURE_VERSION_1_HIGH 1u /* feature bit 32: bit 0 of the second feature word */

/* --- the split virtqueue (section 2.6) --- */

#define QSIZE 16 /* at most 8 commands in flight: two descriptors each */
#define DESC_F_NEXT 1
#define DESC_F_WRITE 2
#define AVAIL_F_NO_INTERRUPT 1 /* we poll the used ring; the CPU only wakes for the PIT */

struct vq_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags, next;
};
struct vq_avail {
    uint16_t flags, idx, ring[QSIZE], used_event;
};
struct vq_used_elem {
    uint32_t id, len;
};
struct vq_used {
    uint16_t flags, idx;
    struct vq_used_elem ring[QSIZE];
    uint16_t avail_event;
};

static struct vq_desc desc[QSIZE] __attribute__((aligned(16)));
static struct vq_avail avail __attribute__((aligned(2)));
static volatile struct vq_used used __attribute__((aligned(4)));

/* --- virtio-gpu (section 5.7) --- */

#define CMD_RESOURCE_CREATE_2D 0x0101
#define CMD_RESOURCE_UNREF 0x0102
#define CMD_SET_SCANOUT 0x0103
#define CMD_RESOURCE_FLUSH 0x0104
#define CMD_TRANSFER_TO_HOST_2D 0x0105
#define CMD_RESOURCE_ATTACH_BACKING 0x0106
#define RESP_OK_NODATA 0x1100
#define FORMAT_B8G8R8X8_UNORM 2 /* bytes B,G,R,X: what the VBE mode gives */

struct gpu_hdr {
    uint32_t type, flags;
    uint64_t fence_id;
    uint32_t ctx_id;
    uint8_t ring_idx, padding[3];
};
struct gpu_rect {
    uint32_t x, y, width, height;
};
struct gpu_create_2d {
    struct gpu_hdr hdr;
    uint32_t resource_id, format, width, height;
};
struct gpu_unref {
    struct gpu_hdr hdr;
    uint32_t resource_id, padding;
};
struct gpu_set_scanout {
    struct gpu_hdr hdr;
    struct gpu_rect r;
    uint32_t scanout_id, resource_id;
};
struct gpu_flush {
    struct gpu_hdr hdr;
    struct gpu_rect r;
    uint32_t resource_id, padding;
};
struct gpu_transfer_2d {
    struct gpu_hdr hdr;
    struct gpu_rect r;
    uint64_t offset;
    uint32_t resource_id, padding;
};
struct gpu_attach_backing {
    struct gpu_hdr hdr;
    uint32_t resource_id, nr_entries;
    uint64_t addr; /* one struct virtio_gpu_mem_entry: the backing is contiguous */
    uint32_t length, padding;
};

union gpu_request {
    struct gpu_hdr hdr;
    struct gpu_create_2d create;
    struct gpu_unref unref;
    struct gpu_set_scanout scanout;
    struct gpu_flush flush;
    struct gpu_transfer_2d transfer;
    struct gpu_attach_backing attach;
};

#define MAX_BATCH (QSIZE / 2)
static union gpu_request requests[MAX_BATCH];
static volatile struct gpu_hdr responses[MAX_BATCH];
static uint32_t batched;

/* The guest's framebuffer: fixed RAM from 16 MiB, room for the largest mode (2560x1600x4). */
#define FB_BASE 0x01000000u
#define FB_BYTES 0x01000000u
/* Seconds without an answer before giving up: longer than QEMU's main loop can stall (it waits up
 * to 25 s for a D-Bus display listener's first reply), so only a dead device gets reported. */
#define ANSWER_TIMEOUT_S 60

static volatile uint8_t *common;
static volatile uint16_t *notify;
static uint16_t avail_idx;
static uint32_t resource, old_resource, scanout_pending;
/* An error answer submit() lets through (0: none), for vgpu_scanout_start's probe. */
static uint32_t tolerated;

static void barrier(void) { __asm__ volatile("" ::: "memory"); }
static void wait_used(void);

/* The RTC's seconds (CMOS register 0): a wall clock that needs no interrupts. Under TCG each
 * `pause` leaves QEMU's CPU loop, so counting polls says little about time. */
static uint8_t rtc_seconds(void)
{
    outb(0x70, 0x00);
    return inb(0x71);
}

static uint8_t common8(uint32_t off) { return common[off]; }
static void set_common8(uint32_t off, uint8_t v) { common[off] = v; }
static uint16_t common16(uint32_t off) { return *(volatile uint16_t *)(common + off); }
static void set_common16(uint32_t off, uint16_t v) { *(volatile uint16_t *)(common + off) = v; }
static uint32_t common32(uint32_t off) { return *(volatile uint32_t *)(common + off); }
static void set_common32(uint32_t off, uint32_t v) { *(volatile uint32_t *)(common + off) = v; }
static void set_common64(uint32_t off, uint32_t v)
{
    set_common32(off, v);
    set_common32(off + 4, 0);
}

__attribute__((noreturn)) static void fail(const char *what)
{
    set_common8(COMMON_STATUS, common8(COMMON_STATUS) | 0x80); /* FAILED */
    serial_halt(what);
}

static union gpu_request *command(uint32_t type)
{
    if (batched == MAX_BATCH)
        serial_halt("virtio-gpu: too many commands in one batch");
    union gpu_request *r = &requests[batched++];
    *r = (union gpu_request){0};
    r->hdr.type = type;
    return r;
}

static uint32_t request_size(uint32_t type)
{
    switch (type) {
    case CMD_RESOURCE_CREATE_2D: return sizeof(struct gpu_create_2d);
    case CMD_RESOURCE_UNREF: return sizeof(struct gpu_unref);
    case CMD_SET_SCANOUT: return sizeof(struct gpu_set_scanout);
    case CMD_RESOURCE_FLUSH: return sizeof(struct gpu_flush);
    case CMD_TRANSFER_TO_HOST_2D: return sizeof(struct gpu_transfer_2d);
    default: return sizeof(struct gpu_attach_backing);
    }
}

static const char *command_name(uint32_t type)
{
    switch (type) {
    case CMD_RESOURCE_CREATE_2D: return "RESOURCE_CREATE_2D";
    case CMD_RESOURCE_UNREF: return "RESOURCE_UNREF";
    case CMD_SET_SCANOUT: return "SET_SCANOUT";
    case CMD_RESOURCE_FLUSH: return "RESOURCE_FLUSH";
    case CMD_TRANSFER_TO_HOST_2D: return "TRANSFER_TO_HOST_2D";
    default: return "RESOURCE_ATTACH_BACKING";
    }
}

/* Publishes avail_idx, notifies queue 0 and polls the used ring until the device has used
 * everything up to it (or halts after ANSWER_TIMEOUT_S). */
static void wait_used(void)
{
    barrier(); /* x86 keeps stores in order: the ring entries are visible before the index */
    avail.idx = avail_idx;
    barrier();
    *notify = 0; /* queue 0 */
    uint8_t second = rtc_seconds();
    uint32_t seconds = 0;
    for (uint32_t n = 1; used.idx != avail_idx; n++) {
        if ((n & 0xFFF) == 0 && rtc_seconds() != second) {
            second = rtc_seconds();
            if (++seconds > ANSWER_TIMEOUT_S)
                fail("virtio-gpu: no answer from the device");
        }
        __asm__ volatile("pause" ::: "memory");
    }
    barrier();
}

/* Queues the batch (request, response descriptor pairs), notifies once, and polls the used ring
 * until the device has answered all of it; each answer must be OK_NODATA. */
static void submit(void)
{
    uint16_t start = avail_idx;
    for (uint32_t i = 0; i < batched; i++) {
        desc[2 * i] = (struct vq_desc){(uint32_t)&requests[i], request_size(requests[i].hdr.type),
                                       DESC_F_NEXT, (uint16_t)(2 * i + 1)};
        desc[2 * i + 1] = (struct vq_desc){(uint32_t)&responses[i], sizeof responses[i], DESC_F_WRITE, 0};
        responses[i].type = 0;
        avail.ring[(uint16_t)(start + i) % QSIZE] = (uint16_t)(2 * i);
    }
    avail_idx = (uint16_t)(start + batched);
    wait_used();
    for (uint32_t i = 0; i < batched; i++) {
        if (responses[i].type != RESP_OK_NODATA && responses[i].type != tolerated) {
            serial_puts("guest: virtio-gpu: ");
            serial_puts(command_name(requests[i].hdr.type));
            serial_puts(" answered ");
            serial_hex(responses[i].type);
            serial_puts("\n");
            fail("virtio-gpu: command failed");
        }
    }
    batched = 0;
}

struct caps {
    uint8_t common_bar, notify_bar, device_bar, found;
    uint32_t common_off, notify_off, notify_mult, device_off;
};

/* Walks the vendor capabilities for the common and notify structures (the first of each). */
static void read_caps(const struct pci_dev *d, struct caps *c)
{
    if (!(pci_read32(d, PCI_COMMAND) & PCI_STATUS_CAPS))
        return;
    uint32_t p = pci_read8(d, PCI_CAP_PTR) & 0xFC;
    for (uint32_t hops = 0; p && hops < 48; hops++) {
        uint8_t id = pci_read8(d, p), type = pci_read8(d, p + 3);
        if (id == PCI_CAP_VENDOR && type == CAP_COMMON && !(c->found & 1)) {
            c->common_bar = pci_read8(d, p + 4);
            c->common_off = pci_read32(d, p + 8);
            c->found |= 1;
        } else if (id == PCI_CAP_VENDOR && type == CAP_NOTIFY && !(c->found & 2)) {
            c->notify_bar = pci_read8(d, p + 4);
            c->notify_off = pci_read32(d, p + 8);
            c->notify_mult = pci_read32(d, p + 16);
            c->found |= 2;
        } else if (id == PCI_CAP_VENDOR && type == CAP_DEVICE && !(c->found & 4)) {
            c->device_bar = pci_read8(d, p + 4);
            c->device_off = pci_read32(d, p + 8);
            c->found |= 4;
        }
        p = pci_read8(d, p + 1) & 0xFC;
    }
}

/* --- the host's display hints (Console.SetUIInfo -> VIRTIO_GPU_EVENT_DISPLAY) --- */

#define CMD_GET_DISPLAY_INFO 0x0100
#define RESP_OK_DISPLAY_INFO 0x1101
#define EVENT_DISPLAY 1
#define MAX_SCANOUTS 16

struct gpu_display_info {
    struct gpu_hdr hdr;
    struct {
        struct gpu_rect r;
        uint32_t enabled, flags;
    } pmodes[MAX_SCANOUTS];
};

/* struct virtio_gpu_config in the device-specific capability: [0] events_read, [1] events_clear. */
static volatile uint32_t *device_cfg;
static struct gpu_hdr display_info_request;
static volatile struct gpu_display_info display_info;

static void display_events_init(const struct pci_dev *d, const struct caps *c, uint32_t ram_end)
{
    if (!(c->found & 4) || c->device_bar > 5)
        return; /* no device configuration: hints are never read */
    uint32_t base = pci_bar_address(d, c->device_bar, ram_end);
    if (base)
        device_cfg = (volatile uint32_t *)(base + c->device_off);
}

/* GET_DISPLAY_INFO on its own (its answer is not OK_NODATA, so not through submit()). */
static void get_display_info(void)
{
    display_info_request = (struct gpu_hdr){0};
    display_info_request.type = CMD_GET_DISPLAY_INFO;
    display_info.hdr.type = 0;
    uint16_t slot = avail_idx % QSIZE;
    desc[0] = (struct vq_desc){(uint32_t)&display_info_request, sizeof display_info_request, DESC_F_NEXT, 1};
    desc[1] = (struct vq_desc){(uint32_t)&display_info, sizeof display_info, DESC_F_WRITE, 0};
    avail.ring[slot] = 0;
    avail_idx++;
    wait_used();
    if (display_info.hdr.type != RESP_OK_DISPLAY_INFO) {
        serial_puts("guest: virtio-gpu: GET_DISPLAY_INFO answered ");
        serial_hex(display_info.hdr.type);
        serial_puts("\n");
        fail("virtio-gpu: command failed");
    }
}

int vgpu_display_hint(uint32_t *width, uint32_t *height)
{
    if (!device_cfg || !(device_cfg[0] & EVENT_DISPLAY))
        return 0;
    /* Cleared before the query: a hint that comes meanwhile raises the event again. */
    device_cfg[1] = EVENT_DISPLAY;
    get_display_info();
    if (!display_info.pmodes[0].enabled || !display_info.pmodes[0].r.width || !display_info.pmodes[0].r.height)
        return 0;
    *width = display_info.pmodes[0].r.width;
    *height = display_info.pmodes[0].r.height;
    return 1;
}

int vgpu_hinted_mode(uint32_t scanout, uint32_t *width, uint32_t *height)
{
    if (scanout >= MAX_SCANOUTS || !display_info.pmodes[scanout].enabled)
        return 0;
    *width = display_info.pmodes[scanout].r.width;
    *height = display_info.pmodes[scanout].r.height;
    return *width && *height;
}

int vgpu_init(uint32_t ram_end)
{
    struct pci_dev d;
    if (!pci_find(VIRTIO_VENDOR, VIRTIO_GPU_DEVICE, &d))
        return 0;
    /* The firmware keeps its tables in the top of RAM: leave the last MiB alone. */
    if (ram_end < FB_BASE + FB_BYTES + 0x100000u)
        serial_halt("virtio-gpu: the framebuffer needs more RAM (-m 34 or more)");
    struct caps c = {0};
    read_caps(&d, &c);
    if ((c.found & 3) != 3 || c.common_bar > 5 || c.notify_bar > 5)
        serial_halt("virtio-gpu: no virtio 1.0 capabilities");
    uint32_t common_base = pci_bar_address(&d, c.common_bar, ram_end);
    uint32_t notify_base = c.notify_bar == c.common_bar ? common_base : pci_bar_address(&d, c.notify_bar, ram_end);
    if (!common_base || !notify_base)
        serial_halt("virtio-gpu: BAR not mapped below 4 GiB");
    /* Bus mastering: without it QEMU's DMA to and from our RAM fails. */
    pci_enable(&d, PCI_CMD_MEMORY | PCI_CMD_BUS_MASTER);
    common = (volatile uint8_t *)(common_base + c.common_off);
    display_events_init(&d, &c, ram_end);

    set_common8(COMMON_STATUS, 0); /* reset */
    for (uint32_t n = 0; common8(COMMON_STATUS) != 0; n++)
        if (n == 1000000)
            serial_halt("virtio-gpu: reset did not finish");
    set_common8(COMMON_STATUS, STATUS_ACKNOWLEDGE);
    set_common8(COMMON_STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
    set_common32(COMMON_DEVICE_FEATURE_SELECT, 1);
    if (!(common32(COMMON_DEVICE_FEATURE) & FEATURE_VERSION_1_HIGH))
        fail("virtio-gpu: no VIRTIO_F_VERSION_1");
    set_common32(COMMON_DRIVER_FEATURE_SELECT, 0);
    set_common32(COMMON_DRIVER_FEATURE, 0); /* nothing of virtio-gpu's own (no virgl, no EDID) */
    set_common32(COMMON_DRIVER_FEATURE_SELECT, 1);
    set_common32(COMMON_DRIVER_FEATURE, FEATURE_VERSION_1_HIGH);
    set_common8(COMMON_STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK);
    if (!(common8(COMMON_STATUS) & STATUS_FEATURES_OK))
        fail("virtio-gpu: features not accepted");

    set_common16(COMMON_QUEUE_SELECT, 0); /* controlq */
    uint16_t max = common16(COMMON_QUEUE_SIZE);
    if (max < QSIZE)
        fail("virtio-gpu: controlq shorter than 16");
    set_common16(COMMON_QUEUE_SIZE, QSIZE);
    avail.flags = AVAIL_F_NO_INTERRUPT;
    set_common64(COMMON_QUEUE_DESC, (uint32_t)desc);
    set_common64(COMMON_QUEUE_DRIVER, (uint32_t)&avail);
    set_common64(COMMON_QUEUE_DEVICE, (uint32_t)&used);
    uint32_t notify_index = common16(COMMON_QUEUE_NOTIFY_OFF);
    notify = (volatile uint16_t *)(notify_base + c.notify_off + notify_index * c.notify_mult);
    set_common16(COMMON_QUEUE_ENABLE, 1);
    set_common8(COMMON_STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK | STATUS_DRIVER_OK);
    return 1;
}

/* Queues RESOURCE_CREATE_2D (B8G8R8X8) and ATTACH_BACKING of width x height pixels at `fb`. */
static void queue_resource(uint32_t resource_id, uint32_t fb, uint32_t width, uint32_t height)
{
    union gpu_request *r = command(CMD_RESOURCE_CREATE_2D);
    r->create.resource_id = resource_id;
    r->create.format = FORMAT_B8G8R8X8_UNORM;
    r->create.width = width;
    r->create.height = height;
    r = command(CMD_RESOURCE_ATTACH_BACKING);
    r->attach.resource_id = resource_id;
    r->attach.nr_entries = 1;
    r->attach.addr = fb;
    r->attach.length = width * height * 4;
}

void vgpu_set_mode(struct screen *s, uint32_t width, uint32_t height)
{
    if ((uint64_t)width * height * 4 > FB_BYTES)
        serial_halt("virtio-gpu: mode larger than the framebuffer");
    old_resource = resource;
    resource++;
    /* The same RAM backs the new resource and the old one until the old is released: only the
     * resource on the scanout is ever transferred. */
    queue_resource(resource, FB_BASE, width, height);
    submit();

    s->fb = (volatile uint32_t *)FB_BASE;
    s->width = width;
    s->height = height;
    s->pitch = width; /* the host copies rows of width * 4 bytes: no padding */
    for (uint32_t i = 0, n = width * height; i < n; i++)
        s->fb[i] = 0; /* as the VBE mode set clears its framebuffer */
    scanout_pending = 1;
}

void vgpu_present(const struct screen *s)
{
    struct gpu_rect all = {0, 0, s->width, s->height};
    union gpu_request *r = command(CMD_TRANSFER_TO_HOST_2D);
    r->transfer.r = all;
    r->transfer.offset = 0;
    r->transfer.resource_id = resource;
    if (scanout_pending) {
        /* After the transfer: the new scanout starts with this frame, not a black one. */
        r = command(CMD_SET_SCANOUT);
        r->scanout.r = all;
        r->scanout.scanout_id = 0;
        r->scanout.resource_id = resource;
        if (old_resource) {
            r = command(CMD_RESOURCE_UNREF);
            r->unref.resource_id = old_resource;
        }
        scanout_pending = 0;
        old_resource = 0;
    }
    r = command(CMD_RESOURCE_FLUSH);
    r->flush.r = all;
    r->flush.resource_id = resource;
    submit();
}

/* --- other scanouts (second-head.c): a resource of their own, in RAM at `fb` --- */

#define RESP_ERR_INVALID_SCANOUT_ID 0x1202

int vgpu_scanout_start(uint32_t scanout_id, uint32_t resource_id, uint32_t fb, uint32_t width, uint32_t height,
                       uint32_t old_resource_id)
{
    struct gpu_rect all = {0, 0, width, height};
    queue_resource(resource_id, fb, width, height);
    union gpu_request *r = command(CMD_TRANSFER_TO_HOST_2D);
    r->transfer.r = all;
    r->transfer.resource_id = resource_id;
    submit();
    /* A scanout the device does not have answers INVALID_SCANOUT_ID: then there is no such head. */
    r = command(CMD_SET_SCANOUT);
    r->scanout.r = all;
    r->scanout.scanout_id = scanout_id;
    r->scanout.resource_id = resource_id;
    tolerated = RESP_ERR_INVALID_SCANOUT_ID;
    submit();
    tolerated = 0;
    if (responses[0].type != RESP_OK_NODATA) {
        r = command(CMD_RESOURCE_UNREF);
        r->unref.resource_id = resource_id;
        submit();
        return 0;
    }
    if (old_resource_id) {
        r = command(CMD_RESOURCE_UNREF);
        r->unref.resource_id = old_resource_id;
    }
    vgpu_scanout_flush(resource_id, 0, 0, width, height, width * 4);
    return 1;
}

void vgpu_scanout_flush(uint32_t resource_id, uint32_t x, uint32_t y, uint32_t width, uint32_t height,
                        uint32_t stride)
{
    struct gpu_rect rect = {x, y, width, height};
    union gpu_request *r = command(CMD_TRANSFER_TO_HOST_2D);
    r->transfer.r = rect;
    r->transfer.offset = (uint64_t)y * stride + x * 4;
    r->transfer.resource_id = resource_id;
    r = command(CMD_RESOURCE_FLUSH);
    r->flush.r = rect;
    r->flush.resource_id = resource_id;
    submit();
}
