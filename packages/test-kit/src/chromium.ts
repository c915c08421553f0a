import { chromium, type Browser } from 'playwright-core';

/** Debian's Chromium; never a downloaded browser. */
export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Headless Chromium with nothing reaching past loopback. `executablePath`: a wrapper that runs
 * Debian's Chromium differently (e.g. ViewerNetwork.chromiumWrapper, inside a network namespace).
 */
export async function launchChromium(
  extraArgs: string[] = [],
  opts: { executablePath?: string } = {},
): Promise<Browser> {
  return chromium.launch({
    executablePath: opts.executablePath ?? chromiumPath,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-default-apps',
      '--autoplay-policy=no-user-gesture-required',
      ...extraArgs,
    ],
  });
}
