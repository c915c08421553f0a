// Typed access to the capture addon (native/build/Release/capture.node, built by `pnpm build`):
// a socket pair for QEMU's listener link, memfds, and EGL DMA-BUF import for gl=on consoles.
//
// Errors (the native kit's vocabulary): bad arguments are TypeError (code ERR_INVALID_ARG_TYPE /
// ERR_INVALID_ARG_VALUE), checked here first; a rectangle or offset outside the image or the
// target, or an unknown handle, is RangeError (ERR_OUT_OF_BOUNDS);
// a failed EGL or GL call is an Error named 'EglError' / 'GlError' whose `code` is the EGL or GL
// error's name (EGL_BAD_MATCH ...), with Mesa's EGL_KHR_debug text in the message; a buffer that
// cannot be what it claims (fd not a DMA-BUF or memfd, too small) is 'DmabufError'; calls after
// close() fail with 'ClosedError'. System calls fail with Error carrying code/errno/syscall.
// Errors of the asynchronous methods carry the JS stack of the call.
import { createRequire } from 'node:module';

import { check, invalidArgValue, is } from '@qemu-webrtc/native-kit';

export { closeFd } from '@qemu-webrtc/frame-ring';

/** DRM fourccs (drm_fourcc.h) that QEMU sends for gl=on scanouts. */
export const DRM_FORMAT_XRGB8888 = 0x34325258; // 'XR24'
export const DRM_FORMAT_ARGB8888 = 0x34325241; // 'AR24'
export const DRM_FORMAT_XBGR8888 = 0x34324258; // 'XB24'
export const DRM_FORMAT_ABGR8888 = 0x34324241; // 'AB24'
export const DRM_FORMAT_MOD_LINEAR = 0n;
export const DRM_FORMAT_MOD_INVALID = 0xffffffffffffffn;

/** The fourcc code of a four-character name: fourcc('XR24') === DRM_FORMAT_XRGB8888. */
export function fourcc(name: string): number {
  if (name.length !== 4) throw new TypeError(`a fourcc has 4 characters (got '${name}')`);
  let code = 0;
  for (let i = 3; i >= 0; i--) code = code * 256 + (name.charCodeAt(i) & 0xff);
  return code;
}

export interface EglImporterOptions {
  /**
   * A DRM node (/dev/dri/renderD128) to import on, through EGL_EXT_platform_device. Without it
   * the importer uses Mesa's surfaceless platform (llvmpipe where there is no GPU).
   */
  device?: string;
}

/** One DMA-BUF as QEMU describes it (ScanoutDMABUF: one plane; ScanoutDMABUF2: up to 4). */
export interface DmabufImport {
  /** One fd per plane; the importer dup()s them: the caller closes its own copies when it likes. */
  fds: readonly number[];
  width: number;
  height: number;
  /** A DRM fourcc; supported: XR24 AR24 XB24 AB24 RX24 RA24 BX24 BA24 XR30 AR30 XB30 AB30 RG16. */
  fourcc: number;
  /** The layout modifier; DRM_FORMAT_MOD_INVALID (or undefined) means "implicit", and is not passed to EGL. */
  modifier?: bigint;
  /** Byte offset of each plane in its fd. */
  offsets: readonly number[];
  /** Bytes per row of each plane. */
  strides: readonly number[];
}

export interface ReadPixelsOptions {
  /** The rectangle, in top-down coordinates of the final image. */
  x: number;
  y: number;
  width: number;
  height: number;
  /** Receives BGRA bytes (B, G, R, A/X per pixel); kept alive until the promise settles. */
  target: ArrayBuffer | ArrayBufferView;
  /** Byte offset of the rectangle's first pixel in target (default 0). */
  targetOffset?: number;
  /** Bytes from one output row to the next (default width * 4). */
  targetStride?: number;
  /** The buffer's row 0 is the bottom of the image (QEMU's y0_top=false); output stays top-down. */
  yFlip?: boolean;
}

export interface EglModifierInfo {
  modifier: bigint;
  /** Only sampleable as GL_TEXTURE_EXTERNAL_OES by this driver. */
  externalOnly: boolean;
}

export interface EglFormatInfo {
  fourcc: number;
  name: string;
  /** importDmabuf accepts this fourcc. */
  importable: boolean;
  modifiers: EglModifierInfo[];
}

/** What the importer's EGL display and GLES context are, for logs. */
export interface EglInfo {
  platform: 'surfaceless' | 'device';
  device: string | null;
  eglVendor: string;
  eglVersion: string;
  eglClientApis: string;
  eglExtensions: string[];
  vendor: string;
  renderer: string;
  version: string;
  shadingLanguageVersion: string;
  extensions: string[];
  glesMajorVersion: number;
  /** 'BGRA' when GL reads BGRA itself (EXT_read_format_bgra), 'RGBA' when the native side swizzles. */
  readFormat: 'BGRA' | 'RGBA';
  maxTextureSize: number;
  /** EGL_EXT_image_dma_buf_import_modifiers is present. */
  modifiersSupported: boolean;
  /** eglQueryDmaBufFormatsEXT / eglQueryDmaBufModifiersEXT (empty without the modifiers extension). */
  formats: EglFormatInfo[];
}

/**
 * Imports DMA-BUFs with EGL and reads them back as BGRA. All GL work runs on one native thread
 * per importer; requests run in call order. Call close() when done (later calls fail with
 * ClosedError; close() twice returns the same promise).
 */
export interface EglImporter {
  /** Resolves to a handle for readPixels/release. Rejects (TypeError, RangeError, DmabufError, EglError, GlError) on bad buffers. */
  importDmabuf(desc: DmabufImport): Promise<number>;
  /** Copies a rectangle into target on the GL thread. Out-of-bounds rectangles or targets reject with RangeError. */
  readPixels(handle: number, options: ReadPixelsOptions): Promise<void>;
  /** Destroys the image (after any readPixels already queued); false for an unknown handle. Throws ClosedError after close(). */
  release(handle: number): boolean;
  /** Resolves on the GL thread; rejects with the EGL error when the display or context could not be created. */
  info(): Promise<EglInfo>;
  close(): Promise<void>;
  readonly closed: boolean;
}

export interface EglImporterConstructor {
  new (options?: EglImporterOptions): EglImporter;
}

interface NativeBinding {
  socketpair(): [number, number];
  createMemfd(name: string, size: number): number;
  sharedFdInfo(fd: number): SharedFdInfo;
  addSeals(fd: number, seals: number): void;
  EglImporter: EglImporterConstructor;
}

const require = createRequire(import.meta.url);
const binding = require('../../native/build/Release/capture.node') as NativeBinding;

/** An AF_UNIX SOCK_STREAM pair, SOCK_CLOEXEC on both ends. */
export function socketpair(): [number, number] {
  return binding.socketpair();
}

/** A memfd (MFD_CLOEXEC | MFD_ALLOW_SEALING) of `size` bytes, zero-filled. */
export function createMemfd(name: string, size: number): number {
  check.string(name, 'createMemfd: name');
  check.integer(size, 'createMemfd: size', 0, Number.MAX_SAFE_INTEGER);
  return binding.createMemfd(name, size);
}

/** F_SEAL_* bits (linux/fcntl.h). */
export const F_SEAL_SEAL = 0x1;
export const F_SEAL_SHRINK = 0x2;
export const F_SEAL_GROW = 0x4;
export const F_SEAL_WRITE = 0x8;

export interface SharedFdInfo {
  /** fstat's st_size. */
  size: number;
  /** F_GET_SEALS (0 when not sealable). */
  seals: number;
  /** Whether the file can carry seals at all (a memfd or shmem file). */
  sealable: boolean;
}

/** The size and seals of a file QEMU shared with us. */
export function sharedFdInfo(fd: number): SharedFdInfo {
  check.fd(fd, 'sharedFdInfo: fd');
  return binding.sharedFdInfo(fd);
}

/** F_ADD_SEALS (test peers playing QEMU's side seal their memfds like QEMU does). */
export function addSeals(fd: number, seals: number): void {
  check.fd(fd, 'addSeals: fd');
  check.integer(seals, 'addSeals: seals', 0, 0xffff);
  binding.addSeals(fd, seals);
}

/** An asynchronous call's argument check: its error becomes the rejection. */
function rejection(error: unknown): Promise<never> {
  return Promise.reject(error instanceof Error ? error : new Error(String(error)));
}

/** Larger than any GL_MAX_TEXTURE_SIZE; the context's own limit is checked natively. */
const MAX_DIMENSION = 32768;

function checkDmabufImport(desc: DmabufImport): void {
  check.object(desc, 'importDmabuf: desc');
  for (const key of ['fds', 'offsets', 'strides'] as const) {
    if (!Array.isArray(desc[key])) throw invalidArgValue(`importDmabuf: desc.${key}`, 'an array', desc[key]);
  }
  const planes = desc.fds.length;
  if (planes < 1 || planes > 4) throw invalidArgValue('importDmabuf: desc.fds', '1 to 4 fds', desc.fds);
  if (desc.offsets.length !== planes || desc.strides.length !== planes) {
    throw invalidArgValue(
      'importDmabuf: desc.offsets and desc.strides',
      `${planes} entries (one per fd)`,
      desc.offsets,
    );
  }
  check.integer(desc.width, 'importDmabuf: desc.width', 1, MAX_DIMENSION);
  check.integer(desc.height, 'importDmabuf: desc.height', 1, MAX_DIMENSION);
  check.integer(desc.fourcc, 'importDmabuf: desc.fourcc', 0, 0xffffffff);
  if (desc.modifier !== undefined && !is.bigint(desc.modifier)) {
    throw invalidArgValue('importDmabuf: desc.modifier', 'a bigint', desc.modifier);
  }
  desc.fds.forEach((fd, i) => check.fd(fd, `importDmabuf: desc.fds[${i}]`));
  desc.offsets.forEach((o, i) => check.integer(o, `importDmabuf: desc.offsets[${i}]`, 0, 0x7fffffff));
  desc.strides.forEach((s, i) => check.integer(s, `importDmabuf: desc.strides[${i}]`, 1, 0x7fffffff));
}

// Only types here: whether the rectangle and offsets fit the image and the target is the addon's
// check (RangeError), since only it knows the image's size.
function checkReadPixels(handle: number, options: ReadPixelsOptions): void {
  check.integer(handle, 'readPixels: handle', 0, 0xffffffff);
  check.object(options, 'readPixels: options');
  for (const key of ['x', 'y', 'width', 'height'] as const) {
    if (!Number.isInteger(options[key]))
      throw invalidArgValue(`readPixels: options.${key}`, 'an integer', options[key]);
  }
  check.bytes(options.target, 'readPixels: options.target');
  for (const key of ['targetOffset', 'targetStride'] as const) {
    const value = options[key];
    if (value !== undefined && !Number.isInteger(value)) {
      throw invalidArgValue(`readPixels: options.${key}`, 'an integer', value);
    }
  }
  if (options.yFlip !== undefined) check.bool(options.yFlip, 'readPixels: options.yFlip');
}

/** The addon's importer, its arguments checked first (a bad argument rejects). */
class CheckedEglImporter extends binding.EglImporter {
  constructor(options?: EglImporterOptions) {
    if (options !== undefined) {
      check.object(options, 'new EglImporter: options');
      if (options.device !== undefined) check.path(options.device, 'new EglImporter: options.device');
    }
    super(options);
  }

  override importDmabuf(desc: DmabufImport): Promise<number> {
    if (this.closed) return super.importDmabuf(desc);
    try {
      checkDmabufImport(desc);
    } catch (error) {
      return rejection(error);
    }
    return super.importDmabuf(desc);
  }

  override readPixels(handle: number, options: ReadPixelsOptions): Promise<void> {
    if (this.closed) return super.readPixels(handle, options);
    try {
      checkReadPixels(handle, options);
    } catch (error) {
      return rejection(error);
    }
    return super.readPixels(handle, options);
  }
}

export const EglImporter: EglImporterConstructor = CheckedEglImporter;
