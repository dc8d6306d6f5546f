// Loads each page given on the command line in Debian's headless Chromium and prints one JSON
// line: an array with each page's window.boltgateResult (or {ok:false,error} on a timeout).
//
//   node run.mjs <server-cert.pem> <url>...
//
// The browser trusts the test server's certificate for wss:// through
// --ignore-certificate-errors-spki-list: the base64 SHA-256 of the certificate's public key
// (SPKI), which Chromium honours only with a --user-data-dir (a fresh one here). Nothing is
// installed into a system or NSS trust store.
import { chromium } from 'playwright-core';
import { X509Certificate, createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [certPath, ...urls] = process.argv.slice(2);
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const spki = createHash('sha256')
  .update(new X509Certificate(readFileSync(certPath)).publicKey.export({ type: 'spki', format: 'der' }))
  .digest('base64');
const userDataDir = mkdtempSync(join(tmpdir(), 'boltgate-chromium-'));

const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath,
  headless: true,
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    `--ignore-certificate-errors-spki-list=${spki}`,
  ],
  timeout: 30000,
});
const results = [];
try {
  for (const url of urls) {
    const page = await context.newPage();
    const console_ = [];
    page.on('console', (m) => console_.push(m.text()));
    try {
      await page.goto(url, { timeout: 15000 });
      await page.waitForFunction(() => window.boltgateResult !== undefined, null, { timeout: 20000 });
      results.push(await page.evaluate(() => window.boltgateResult));
    } catch (e) {
      results.push({ ok: false, error: `page did not finish: ${e.message}`, console: console_ });
    } finally {
      await page.close();
    }
  }
} finally {
  await context.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
console.log(JSON.stringify(results));
