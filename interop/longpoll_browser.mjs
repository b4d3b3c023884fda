// Long-poll in a real browser: headless Chromium opens interop/longpoll.html, where
// WebSocket is unavailable, so autobahn-js (its browser build) falls back to long-poll; a
// WebSocket session here (autobahn-js under Node) publishes to it, hears from it and
// answers its call.
//
// Usage: NODE_EXTRA_CA_CERTS=ca.pem node longpoll_browser.mjs https://localhost:PORT/longpoll.html wss://localhost:PORT/ws
import { chromium } from "playwright-core";
import { check, join } from "./lib.mjs";

const [pageUrl, wsUrl] = process.argv.slice(2);

const ws = await join({ url: wsUrl });
await ws.session.register("com.browser.add", ([a, b]) => a + b);
const heard = new Promise((resolve) => ws.session.subscribe("com.browser.out", (args) => resolve(args[0])));

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--ignore-certificate-errors"],
});
try {
  const page = await (await browser.newContext({ ignoreHTTPSErrors: true })).newPage();
  page.on("pageerror", (e) => console.log("page error:", e.message));
  await page.goto(pageUrl);
  check("the page has no WebSocket", await page.evaluate(() => !("WebSocket" in window)));
  await page.waitForSelector("body[data-subscribed=yes]", { state: "attached", timeout: 15000 });
  await ws.session.publish("com.browser.in", ["hello to the browser"], {}, { acknowledge: true });
  await page.waitForSelector("body[data-done=yes]", { timeout: 15000 });
  const text = await page.textContent("body");
  check("autobahn-js in Chromium joins over long-poll and receives an event and a call result",
    text === "joined over longpoll; event: hello to the browser; sum: 42", text);
  check("the browser's event reaches the WebSocket subscriber", (await heard) === "got: hello to the browser");
} finally {
  await browser.close();
  ws.connection.close();
}
process.exit(0);
