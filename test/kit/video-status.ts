import type { Page } from 'playwright-core';
import { readGuestStatus, type GuestStatus } from './guest-screen.js';

/**
 * Draws the page's <video> (the first one, or `selector`) into a canvas and reads the test guest's
 * status blocks from its pixels. `guest`: the guest's resolution when the video is a scaled
 * rendition (default: the video's size). Only the top rows are read (the status lies in the top
 * 224 guest rows). Null before the first frame or when the status cannot be read.
 */
export async function statusFromVideo(
  page: Page,
  opts: { guest?: { width: number; height: number }; selector?: string } = {},
): Promise<GuestStatus | null> {
  const guestRows = 224;
  const read = await page.evaluate(
    ({ selector, guestRows, guestHeight }) => {
      const video = document.querySelector<HTMLVideoElement>(selector);
      if (!video || video.videoWidth === 0) return null;
      const rows = Math.min(
        video.videoHeight,
        Math.ceil((guestRows * video.videoHeight) / (guestHeight ?? video.videoHeight)),
      );
      const canvas = document.createElement('canvas');
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      const ctx = canvas.getContext('2d', { willReadFrequently: true });
      if (!ctx) return null;
      ctx.drawImage(video, 0, 0);
      const data = ctx.getImageData(0, 0, canvas.width, rows).data;
      // Test-only transfer out of the page: playwright passes strings, not buffers.
      let s = '';
      for (let i = 0; i < data.length; i += 0x8000) s += String.fromCharCode(...data.subarray(i, i + 0x8000));
      return { width: video.videoWidth, height: video.videoHeight, rows, b64: btoa(s) };
    },
    { selector: opts.selector ?? 'video', guestRows, guestHeight: opts.guest?.height },
  );
  if (!read) return null;
  const data = Buffer.from(read.b64, 'base64');
  const gw = opts.guest?.width ?? read.width;
  const gh = opts.guest?.height ?? read.height;
  // The rows read are a scaled copy of the guest's top (gh * rows / height) rows.
  return readGuestStatus(
    { data, width: read.width, height: read.rows, stride: read.width * 4, layout: 'rgba' },
    gw,
    Math.round((gh * read.rows) / read.height),
  );
}
