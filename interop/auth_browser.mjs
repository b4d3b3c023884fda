// Cookie login in a real browser: headless Chromium logs in once with a ticket, and on its
// second visit joins as the same authid with the `cookie` method alone.
//
// Usage: node auth_browser.mjs https://localhost:PORT/cookie.html
import { chromium } from "playwright-core";

const url = process.argv[2];

function check(name, ok, got) {
  console.log(`${ok ? "ok  " : "FAIL"} ${name}${ok ? "" : ` (got: ${got})`}`);
  if (!ok) process.exit(1);
}

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--ignore-certificate-errors"],
});
try {
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  const visit = async (step) => {
    await page.goto(`${url}?step=${step}`);
    await page.waitForSelector("body[data-done=yes]", { timeout: 10000 });
    return page.textContent("body");
  };
  const before = await visit("again");
  check("before any login, the cookie alone is not enough", before.startsWith("abort wamp.error.no_auth_method"), before);
  const first = await visit("login");
  check("the first visit logs in with a ticket", first === "welcome joe user ticket static", first);
  const cookies = await context.cookies();
  check("the browser keeps the node's cookie", cookies.some((c) => c.name === "cbtid" && c.httpOnly), JSON.stringify(cookies));
  const second = await visit("again");
  check("the second visit is joe again, by cookie", second === "welcome joe user ticket cookie", second);
} finally {
  await browser.close();
}
