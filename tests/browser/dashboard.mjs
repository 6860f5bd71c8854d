// Browser half of tests/test_dashboard_web.py: drives Debian's chromium through playwright-core (no browser
// download) against a live dashboard page, and reports what the page showed as JSON lines on stdout.
//
//   node tests/browser/dashboard.mjs URL FINAL_TS SCREENSHOT
//
// 1. load URL, wait for the first snapshot, print {"event":"initial", ...state};
// 2. the Python side then streams snapshots; record every distinct state the page passes through, wait for
//    the one with ts == FINAL_TS, print {"event":"final", ...state, seen, pwned, ...} and save SCREENSHOT.
// Env: CHROMIUM (default /usr/bin/chromium), DASHBOARD_WAIT_MS (default 20000: per wait; the stream itself
// takes ~3 s, so this only bounds a broken run).
import { chromium } from "playwright-core";

const [url, finalTs, screenshot] = process.argv.slice(2);
const waitMs = Number(process.env.DASHBOARD_WAIT_MS || 20000);
const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

// Reads the page the way a person would: visible text of the numbers, lists, and the chart's SVG marks.
function pageState() {
  const text = (id) => document.getElementById(id).textContent;
  const trend = document.getElementById("trend");
  const feed = document.getElementById("feed");
  return {
    ts: Number(document.body.dataset.ts || 0),
    viewers: text("viewers"),
    cpm: text("cpm"),
    gmv: text("gmv"),
    status: text("status"),
    questions: [...document.querySelectorAll("#questions li")].map((li) => ({
      text: li.querySelector(".qtext").textContent, count: Number(li.dataset.count) })),
    trend_rects: trend.querySelectorAll("rect").length,
    trend_buckets: Number(trend.dataset.buckets),
    mix_rects: document.querySelectorAll("#mix rect").length,
    feed: [...feed.querySelectorAll("li")].map((li) => ({ text: li.querySelector(".text").textContent, cls: li.className })),
    feed_elements: [...feed.querySelectorAll("script, img, iframe, svg, object")].length,
    stage: document.getElementById("stage").textContent,
    products: document.querySelectorAll("#products tr").length,
  };
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  // Playwright adds --headless and a fresh temporary --user-data-dir; these keep chromium off the network
  // (this machine reaches none) and out of sandboxing it cannot do as root in a container.
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
  timeout: waitMs,
});
const errors = [];
try {
  const page = await browser.newPage({ viewport: { width: 1440, height: 1000 }, deviceScaleFactor: 1 });
  page.on("pageerror", (err) => errors.push(String(err)));
  page.on("console", (msg) => { if (msg.type() === "error") errors.push(msg.text()); });
  const resp = await page.goto(url, { waitUntil: "domcontentloaded", timeout: waitMs });
  const headers = resp.headers();
  await page.waitForFunction(() => Number(document.body.dataset.ts || 0) > 0, null, { timeout: waitMs });
  // Log every distinct state the page renders, from inside the page, so fast updates are not missed between polls.
  await page.evaluate((fn) => {
    const read = new Function("return (" + fn + ")()");
    window.__states = [read()];
    new MutationObserver(() => {
      const s = read();
      if (s.ts !== window.__states[window.__states.length - 1].ts) window.__states.push(s);
    }).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
  }, pageState.toString());
  out({ event: "initial", ...(await page.evaluate(pageState)), csp: headers["content-security-policy"] || null });

  await page.waitForFunction((ts) => Number(document.body.dataset.ts || 0) >= ts, Number(finalTs), { timeout: waitMs });
  const final = await page.evaluate(pageState);
  const seen = await page.evaluate(() => window.__states.map((s) => ({ ts: s.ts, viewers: s.viewers,
    questions: s.questions.length, trend_rects: s.trend_rects })));
  const pwned = await page.evaluate(() => (typeof window.__pwned === "undefined" ? null : window.__pwned));
  // Settle the "number just changed" highlight so the screenshot shows resting colours.
  await page.evaluate(() => document.getAnimations().forEach((a) => a.finish()));
  await page.screenshot({ path: screenshot, fullPage: true });
  out({ event: "final", ...final, seen, pwned, errors });
} finally {
  await browser.close();
}
