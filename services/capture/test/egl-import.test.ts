// The EGL DMA-BUF importer against real Mesa (llvmpipe on the surfaceless platform, which imports
// a memfd as a LINEAR "dma-buf"): what QEMU's gl=on scanouts go through, minus the GPU.
import assert from 'node:assert/strict';
import { fstatSync, readFileSync, readSync, writeSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import {
  DRM_FORMAT_ARGB8888,
  DRM_FORMAT_MOD_LINEAR,
  DRM_FORMAT_XRGB8888,
  EglImporter,
  closeFd,
  createMemfd,
  fourcc,
  socketpair,
  type DmabufImport,
} from '../src/native.js';

const WIDTH = 64;
const HEIGHT = 48;

/** Distinct per pixel: B = x, G = y, R mixes both; the 4th byte is A (or X). */
function pixel(x: number, y: number): [number, number, number, number] {
  return [x, y, (x * 7 + y * 13) & 0xff, (0x40 + x + y) & 0xff];
}

/** A memfd holding the pattern as `width` x `height` rows of `stride` bytes, buffer row 0 first. */
function patternMemfd(width: number, height: number, stride: number): number {
  const bytes = Buffer.alloc(stride * height, 0xee);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) bytes.set(pixel(x, y), y * stride + x * 4);
  }
  const fd = createMemfd('egl-import-test', bytes.length);
  writeSync(fd, bytes, 0, bytes.length, 0);
  return fd;
}

function describeBuffer(fd: number, stride = WIDTH * 4, format = DRM_FORMAT_XRGB8888): DmabufImport {
  return {
    fds: [fd],
    width: WIDTH,
    height: HEIGHT,
    fourcc: format,
    modifier: DRM_FORMAT_MOD_LINEAR,
    offsets: [0],
    strides: [stride],
  };
}

/** Imports the pattern; our fd is closed at once (the importer keeps its own copy). */
async function importPattern(
  importer: EglImporter,
  stride = WIDTH * 4,
  format = DRM_FORMAT_XRGB8888,
): Promise<number> {
  const fd = patternMemfd(WIDTH, HEIGHT, stride);
  try {
    return await importer.importDmabuf(describeBuffer(fd, stride, format));
  } finally {
    closeFd(fd);
  }
}

interface Rectangle {
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * Checks BGR of every pixel of `rect` in `out` (rows of `stride` from `offset`) against the
 * pattern; with `yFlip` the image's top-down row r is the buffer's row HEIGHT - 1 - r.
 */
function assertPattern(
  out: Uint8Array,
  rect: Rectangle,
  opts: { offset?: number; stride?: number; yFlip?: boolean; alpha?: boolean } = {},
): void {
  const offset = opts.offset ?? 0;
  const stride = opts.stride ?? rect.width * 4;
  for (let r = 0; r < rect.height; r++) {
    const imageY = rect.y + r;
    const bufferY = opts.yFlip === true ? HEIGHT - 1 - imageY : imageY;
    for (let c = 0; c < rect.width; c++) {
      const at = offset + r * stride + c * 4;
      const want = pixel(rect.x + c, bufferY);
      const got = [...out.subarray(at, at + 4)];
      const channels = opts.alpha === true ? 4 : 3;
      if (got.slice(0, channels).some((v, i) => v !== want[i])) {
        assert.fail(
          `pixel (${rect.x + c}, ${imageY}): got [${got.join(', ')}], want [${want.slice(0, channels).join(', ')}]`,
        );
      }
    }
  }
}

describe('EglImporter on Mesa (surfaceless)', () => {
  let importer: EglImporter;

  before(() => {
    importer = new EglImporter();
  });

  after(async () => {
    await importer.close();
  });

  it('reports the EGL display and GLES context', async (t) => {
    const info = await importer.info();
    t.diagnostic(
      `${info.eglVendor} EGL ${info.eglVersion}; ${info.renderer}; ${info.version}; read ${info.readFormat}`,
    );
    assert.equal(info.platform, 'surfaceless');
    assert.equal(info.device, null);
    assert.ok(info.eglExtensions.includes('EGL_EXT_image_dma_buf_import'));
    assert.ok(info.extensions.includes('GL_OES_EGL_image'));
    assert.ok(info.renderer.length > 0);
    assert.ok(info.maxTextureSize >= 2048);
    if (info.modifiersSupported) {
      const xr24 = info.formats.find((f) => f.fourcc === DRM_FORMAT_XRGB8888);
      assert.ok(xr24, 'XR24 is among the importable formats');
      assert.equal(xr24.name, 'XR24');
      assert.ok(xr24.modifiers.some((m) => m.modifier === DRM_FORMAT_MOD_LINEAR));
    }
  });

  it('reads back a whole XR24 buffer byte for byte', async () => {
    const handle = await importPattern(importer);
    const out = new Uint8Array(WIDTH * HEIGHT * 4);
    await importer.readPixels(handle, { x: 0, y: 0, width: WIDTH, height: HEIGHT, target: out });
    assertPattern(out, { x: 0, y: 0, width: WIDTH, height: HEIGHT });
    assert.ok(importer.release(handle));
  });

  it('reads a sub-rectangle into its place in a larger target', async () => {
    const handle = await importPattern(importer);
    const rect = { x: 5, y: 7, width: 20, height: 11 };
    const stride = 100 * 4;
    const offset = 3 * stride + 9 * 4;
    const target = new ArrayBuffer(stride * 30);
    await importer.readPixels(handle, { ...rect, target, targetOffset: offset, targetStride: stride });
    const out = new Uint8Array(target);
    assertPattern(out, rect, { offset, stride });
    // Nothing outside the rectangle was written.
    assert.ok(out.subarray(0, offset).every((v) => v === 0));
    assert.equal(out[offset + rect.width * 4], 0);
    assert.ok(out.subarray(offset + (rect.height - 1) * stride + rect.width * 4).every((v) => v === 0));
    importer.release(handle);
  });

  it('accepts a typed-array view as target (its byteOffset counts)', async () => {
    const handle = await importPattern(importer);
    const backing = new ArrayBuffer(64 + WIDTH * 4 * 2);
    const view = new Uint8Array(backing, 64, WIDTH * 4 * 2);
    await importer.readPixels(handle, { x: 0, y: 10, width: WIDTH, height: 2, target: view });
    assertPattern(view, { x: 0, y: 10, width: WIDTH, height: 2 });
    assert.ok(new Uint8Array(backing, 0, 64).every((v) => v === 0));
    importer.release(handle);
  });

  it('yFlip: a bottom-up buffer comes out top-down', async () => {
    const handle = await importPattern(importer);
    const whole = new Uint8Array(WIDTH * HEIGHT * 4);
    await importer.readPixels(handle, {
      x: 0,
      y: 0,
      width: WIDTH,
      height: HEIGHT,
      target: whole,
      yFlip: true,
    });
    assertPattern(whole, { x: 0, y: 0, width: WIDTH, height: HEIGHT }, { yFlip: true });
    // The first output row is the buffer's last row.
    assert.deepEqual([...whole.subarray(0, 3)], pixel(0, HEIGHT - 1).slice(0, 3));

    const rect = { x: 10, y: 3, width: 17, height: 9 };
    const stride = WIDTH * 4;
    const offset = rect.y * stride + rect.x * 4;
    const part = new Uint8Array(stride * HEIGHT);
    await importer.readPixels(handle, {
      ...rect,
      target: part,
      targetOffset: offset,
      targetStride: stride,
      yFlip: true,
    });
    assertPattern(part, rect, { offset, stride, yFlip: true });
    importer.release(handle);
  });

  it('imports a buffer whose stride is larger than width * 4', async () => {
    const stride = WIDTH * 4 + 36;
    const handle = await importPattern(importer, stride);
    const out = new Uint8Array(WIDTH * HEIGHT * 4);
    await importer.readPixels(handle, { x: 0, y: 0, width: WIDTH, height: HEIGHT, target: out });
    assertPattern(out, { x: 0, y: 0, width: WIDTH, height: HEIGHT });
    importer.release(handle);
  });

  it('writes a target stride that is not a multiple of 4', async () => {
    const handle = await importPattern(importer);
    const rect = { x: 1, y: 2, width: 30, height: 20 };
    const stride = rect.width * 4 + 3;
    const out = new Uint8Array(stride * rect.height + 1);
    await importer.readPixels(handle, { ...rect, target: out, targetOffset: 1, targetStride: stride });
    assertPattern(out, rect, { offset: 1, stride });
    await importer.readPixels(handle, {
      ...rect,
      target: out,
      targetOffset: 1,
      targetStride: stride,
      yFlip: true,
    });
    assertPattern(out, rect, { offset: 1, stride, yFlip: true });
    importer.release(handle);
  });

  it('keeps alpha of an AR24 buffer', async () => {
    const handle = await importPattern(importer, WIDTH * 4, DRM_FORMAT_ARGB8888);
    const out = new Uint8Array(WIDTH * HEIGHT * 4);
    await importer.readPixels(handle, { x: 0, y: 0, width: WIDTH, height: HEIGHT, target: out });
    assertPattern(out, { x: 0, y: 0, width: WIDTH, height: HEIGHT }, { alpha: true });
    importer.release(handle);
  });

  it('release() forgets the handle', async () => {
    const handle = await importPattern(importer);
    assert.equal(importer.release(handle), true);
    assert.equal(importer.release(handle), false);
    await assert.rejects(
      importer.readPixels(handle, { x: 0, y: 0, width: 1, height: 1, target: new Uint8Array(4) }),
      { name: 'RangeError', message: /unknown handle/ },
    );
  });

  it('rejects buffers it cannot import, and keeps working', async () => {
    const [a, b] = socketpair();
    await assert.rejects(importer.importDmabuf(describeBuffer(a)), {
      name: 'DmabufError',
      message: /not a DMA-BUF or memfd/,
    });
    closeFd(a);
    closeFd(b);

    const small = createMemfd('too-small', 1000);
    await assert.rejects(importer.importDmabuf(describeBuffer(small)), {
      name: 'DmabufError',
      message: /holds 1000 bytes.*needs 12288/,
    });
    closeFd(small);

    const fd = patternMemfd(WIDTH, HEIGHT, WIDTH * 4);
    await assert.rejects(importer.importDmabuf({ ...describeBuffer(fd), width: 100000 }), {
      name: 'TypeError',
      message: /desc.width must be an integer in 1..32768/,
    });
    await assert.rejects(
      importer.importDmabuf({ ...describeBuffer(fd), width: 20000, height: 1, strides: [80000] }),
      {
        name: 'RangeError',
        message: /exceeds GL_MAX_TEXTURE_SIZE/,
      },
    );
    await assert.rejects(importer.importDmabuf({ ...describeBuffer(fd), height: 0 }), { name: 'TypeError' });
    await assert.rejects(importer.importDmabuf({ ...describeBuffer(fd), fourcc: fourcc('NV12') }), {
      name: 'TypeError',
      message: /'NV12' \(0x3231564e\) is not supported/,
    });
    await assert.rejects(importer.importDmabuf({ ...describeBuffer(fd), strides: [WIDTH * 4 - 4] }), {
      name: 'DmabufError',
      message: /strides\[0\] 252 is less than/,
    });
    // A tiled layout llvmpipe does not know (I915_FORMAT_MOD_X_TILED): EGL itself refuses it.
    await assert.rejects(
      importer.importDmabuf({ ...describeBuffer(fd), modifier: 0x0100000000000001n }),
      (error: Error) => {
        assert.equal(error.name, 'EglError');
        assert.equal((error as Error & { code?: string }).code, 'EGL_BAD_MATCH');
        assert.match(
          error.message,
          /^eglCreateImageKHR\(EGL_LINUX_DMA_BUF_EXT\) failed: EGL_BAD_MATCH \(0x3009\)/,
        );
        return true;
      },
    );
    await assert.rejects(importer.importDmabuf({ ...describeBuffer(fd), offsets: [0, 0] }), {
      name: 'TypeError',
    });
    // @ts-expect-error: a number where a bigint belongs
    await assert.rejects(importer.importDmabuf({ ...describeBuffer(fd), modifier: 0 }), {
      name: 'TypeError',
    });
    closeFd(fd);
    await assert.rejects(importer.importDmabuf(describeBuffer(fd)), { name: 'TypeError', message: /EBADF/ });

    const handle = await importPattern(importer);
    const out = new Uint8Array(WIDTH * HEIGHT * 4);
    await importer.readPixels(handle, { x: 0, y: 0, width: WIDTH, height: HEIGHT, target: out });
    assertPattern(out, { x: 0, y: 0, width: WIDTH, height: HEIGHT });
    importer.release(handle);
  });

  it('errors carry the stack of the call', async () => {
    const small = createMemfd('too-small', 16);
    const error = await importer.importDmabuf(describeBuffer(small)).catch((e: unknown) => e);
    closeFd(small);
    assert.ok(error instanceof Error);
    assert.match(error.stack ?? '', /^DmabufError: fds\[0\] holds 16 bytes/);
    assert.match(error.stack ?? '', /egl-import\.test\.[jt]s/);
  });

  it('rejects reads outside the image or the target with RangeError', async () => {
    const handle = await importPattern(importer);
    const whole = { x: 0, y: 0, width: WIDTH, height: HEIGHT };
    const target = new Uint8Array(WIDTH * HEIGHT * 4);
    const cases = [
      { ...whole, width: WIDTH + 1, target },
      { ...whole, x: 1, target },
      { ...whole, y: HEIGHT, height: 1, target },
      { ...whole, width: 0, target },
      { ...whole, target: new Uint8Array(WIDTH * HEIGHT * 4 - 1) },
      { ...whole, target, targetOffset: 1 },
      { ...whole, target, targetStride: WIDTH * 4 - 1 },
      { ...whole, height: 2, target, targetStride: WIDTH * HEIGHT * 4 },
      { ...whole, x: -1, target },
      { ...whole, target, targetOffset: 2 ** 60 },
    ];
    for (const options of cases) {
      await assert.rejects(
        importer.readPixels(handle, options),
        { name: 'RangeError' },
        JSON.stringify({ ...options, target: options.target.length }),
      );
    }
    // @ts-expect-error: not a buffer
    await assert.rejects(importer.readPixels(handle, { ...whole, target: [1, 2, 3] }), { name: 'TypeError' });
    // @ts-expect-error: not a boolean
    await assert.rejects(importer.readPixels(handle, { ...whole, target, yFlip: 1 }), { name: 'TypeError' });
    await importer.readPixels(handle, { ...whole, target });
    assertPattern(target, whole);
    importer.release(handle);
  });

  it('runs requests in call order without waiting in between', async () => {
    const fd = patternMemfd(WIDTH, HEIGHT, WIDTH * 4);
    const imports = Array.from({ length: 8 }, () => importer.importDmabuf(describeBuffer(fd)));
    closeFd(fd);
    const handles = await Promise.all(imports);
    assert.equal(new Set(handles).size, handles.length);
    const reads = handles.map((h, i) => {
      const target = new Uint8Array(WIDTH * HEIGHT * 4);
      const done = importer.readPixels(h, {
        x: 0,
        y: 0,
        width: WIDTH,
        height: HEIGHT,
        target,
        yFlip: i % 2 === 1,
      });
      return done.then(() => target);
    });
    const outs = await Promise.all(reads);
    outs.forEach((out, i) =>
      assertPattern(out, { x: 0, y: 0, width: WIDTH, height: HEIGHT }, { yFlip: i % 2 === 1 }),
    );
    for (const h of handles) importer.release(h);
  });
});

describe('EglImporter lifecycle', () => {
  it('two importers share the display; closing one leaves the other working', async () => {
    const first = new EglImporter({});
    const second = new EglImporter();
    const handle = await importPattern(second);
    await first.close();
    const out = new Uint8Array(WIDTH * HEIGHT * 4);
    await second.readPixels(handle, { x: 0, y: 0, width: WIDTH, height: HEIGHT, target: out });
    assertPattern(out, { x: 0, y: 0, width: WIDTH, height: HEIGHT });
    await second.close();
  });

  it('calls after close() fail with ClosedError; close() twice is fine', async () => {
    const importer = new EglImporter();
    const handle = await importPattern(importer);
    const pending = importer.readPixels(handle, {
      x: 0,
      y: 0,
      width: WIDTH,
      height: HEIGHT,
      target: new Uint8Array(WIDTH * HEIGHT * 4),
    });
    const closing = importer.close();
    assert.equal(importer.closed, true);
    await pending; // queued before close(): it still runs
    await closing;
    await importer.close();
    const fd = patternMemfd(WIDTH, HEIGHT, WIDTH * 4);
    await assert.rejects(importer.importDmabuf(describeBuffer(fd)), { name: 'ClosedError' });
    closeFd(fd);
    await assert.rejects(
      importer.readPixels(handle, { x: 0, y: 0, width: 1, height: 1, target: new Uint8Array(4) }),
      { name: 'ClosedError' },
    );
    await assert.rejects(importer.info(), { name: 'ClosedError' });
    assert.throws(() => importer.release(handle), { name: 'ClosedError' });
  });

  it('an unknown DRM device fails with what EGL saw', async () => {
    const importer = new EglImporter({ device: '/dev/dri/renderD999' });
    await assert.rejects(importer.info(), (error: Error) => {
      assert.equal(error.name, 'EglError');
      assert.match(error.message, /\/dev\/dri\/renderD999/);
      return true;
    });
    await assert.rejects(importer.importDmabuf(describeBuffer(0)), { name: 'EglError' });
    await importer.close();
  });

  it('rejects bad options', () => {
    // @ts-expect-error: device must be a string
    assert.throws(() => new EglImporter({ device: 5 }), { name: 'TypeError' });
    assert.throws(() => new EglImporter({ device: '' }), { name: 'TypeError' });
  });
});

describe('socketpair, closeFd, createMemfd', () => {
  it('socketpair() gives two connected close-on-exec ends', () => {
    const [a, b] = socketpair();
    for (const fd of [a, b]) {
      const flags = /^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1];
      assert.ok(flags !== undefined);
      assert.ok((parseInt(flags, 8) & 0o2000000) !== 0, 'O_CLOEXEC');
    }
    writeSync(a, Buffer.from('ping'));
    const got = Buffer.alloc(4);
    assert.equal(readSync(b, got), 4);
    assert.equal(got.toString(), 'ping');
    closeFd(a);
    closeFd(b);
    assert.throws(() => closeFd(a), { code: 'EBADF', syscall: 'close' });
  });

  it('createMemfd() makes a file of the asked size', () => {
    const fd = createMemfd('memfd-test', 12345);
    assert.equal(fstatSync(fd).size, 12345);
    closeFd(fd);
    assert.throws(() => createMemfd('x', -1), { name: 'TypeError' });
  });
});
