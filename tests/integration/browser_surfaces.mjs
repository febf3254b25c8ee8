// Opens the server's HTML surfaces in headless Chromium under the policies the server sends:
// prints one JSON line with what ran (Swagger UI's operations, the demo's SDK requests), CSP
// violations, page errors, and every request that left the server's origin.
// Usage: node browser_surfaces.mjs <server url>   (run by tests/integration/test_http_surfaces.py)
import { createRequire } from 'node:module';

const require = createRequire(new URL('../../sdk-js/package.json', import.meta.url));
const { chromium } = require('playwright-core');

const base = process.argv[2];
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
});
const result = { operations: 0, requests: [], foreign: [], violations: [], errors: [] };
try {
  const context = await browser.newContext();
  context.on('request', (request) => {
    const url = request.url();
    if (url.startsWith(base)) result.requests.push(`${request.method()} ${new URL(url).pathname}`);
    else if (!url.startsWith('data:')) result.foreign.push(url);
  });
  const open = async (path) => {
    const page = await context.newPage();
    page.on('pageerror', (error) => result.errors.push(`${path}: ${error}`));
    page.on('console', (message) => {
      // favicon.ico: the demo app has none, which is not what this checks.
      if (message.type() === 'error' && !/favicon|404/.test(message.text())) result.errors.push(`${path}: ${message.text()}`);
    });
    await page.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (event) => {
        console.error(`CSP violation: ${event.violatedDirective} ${event.blockedURI}`);
      });
    });
    await page.goto(base + path, { waitUntil: 'load' });
    return page;
  };
  const docs = await open('/schema');
  await docs.waitForSelector('.opblock', { timeout: 20000 });
  result.operations = await docs.locator('.opblock').count();
  const demo = await open('/demo/');
  const sent = () => result.requests.some((r) => r.startsWith('POST /v1/batch'));
  for (let waited = 0; !sent() && waited < 15000; waited += 100) await new Promise((r) => setTimeout(r, 100));
  await demo.evaluate(() => window.cxloop && window.cxloop.flush && window.cxloop.flush());
  result.violations = result.errors.filter((e) => e.includes('CSP violation'));
} catch (error) {
  result.errors.push(`driver: ${error}`);
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
