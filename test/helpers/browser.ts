import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';

/** The system Chromium (Debian package); tests never download a browser. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

export const SCREENSHOT_DIR = resolve(__dirname, '../../test-results');

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
}

/** A phone as WeChat's in-app browser presents itself (375 × 812, touch, Chinese locale). */
export function phoneContext(browser: Browser): Promise<BrowserContext> {
  return browser.newContext({
    viewport: { width: 375, height: 812 },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
    locale: 'zh-CN',
    userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.50(0x1800322f) NetType/WIFI Language/zh_CN',
  });
}

export function desktopContext(browser: Browser): Promise<BrowserContext> {
  return browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'zh-CN' });
}

/** Saves a full-page screenshot under test-results/ (gitignored) and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const path = resolve(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** How far the page is wider than the viewport (0 = no horizontal scrolling). */
export function horizontalOverflow(page: Page): Promise<number> {
  return page.evaluate(() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth) - window.innerWidth);
}

/**
 * On the handler form (/h5/handler/form, name already typed): types the ID number, starts the check and passes
 * it on the sandbox FaceID page, and waits for our callback page.
 */
export async function passSandboxLiveness(page: Page, idNumber: string): Promise<void> {
  await page.locator('#idNumber').fill(idNumber);
  await page.getByRole('button', { name: '开始人脸核验' }).click();
  await page.waitForURL(/\/sandbox\/faceid\/h5\//);
  await page.locator('#fi-start').click();
  await page.locator('#fi-pass').click();
  await page.locator('#fi-done').click();
  await page.waitForURL(/\/h5\/handler\/callback\?ref=/);
}
