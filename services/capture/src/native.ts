// Typed access to the capture addon (native/build/Release/capture.node, built by `pnpm build`):
// a socket pair for QEMU's listener link, memfds, and EGL DMA-BUF import for gl=on consoles.
//
// Errors: bad arguments are TypeError / RangeError (code ERR_INVALID_ARG_TYPE / ERR_OUT_OF_RANGE);
// a failed EGL or GL call is an Error named 'EglError' / 'GlError' whose `code` is the EGL or GL
// error's name (EGL_BAD_MATCH ...), with Mesa's EGL_KHR_debug text in the message; a buffer that
// cannot be what it claims (fd not a DMA-BUF or memfd, too small) is 'DmabufError'; calls after
// close() fail with 'ClosedError'. System calls fail with Error carrying code/errno/syscall.
// Errors of the asynchronous methods carry the JS stack of the call.
import { createRequire } from 'node:module';

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
  closeFd(fd: number): void;
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

/** close(2); throws (code EBADF ...) when it fails. */
export function closeFd(fd: number): void {
  binding.closeFd(fd);
}

/** A memfd (MFD_CLOEXEC | MFD_ALLOW_SEALING) of `size` bytes, zero-filled. */
export function createMemfd(name: string, size: number): number {
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
  return binding.sharedFdInfo(fd);
}

/** F_ADD_SEALS (test peers playing QEMU's side seal their memfds like QEMU does). */
export function addSeals(fd: number, seals: number): void {
  binding.addSeals(fd, seals);
}

export const EglImporter: EglImporterConstructor = binding.EglImporter;
