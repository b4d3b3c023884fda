// The demo page in a real browser: two pages of headless Chromium join realm1; one registers
// demo.add2 and the other calls it, and each page's Wire panel shows the messages of that
// call; a chat message sent on one shows on both.
//
// Usage: node browser.mjs https://localhost:PORT/
// The node's certificate comes from a throwaway test CA, so Chromium is told to accept it.
import { chromium } from "playwright-core";

const url = process.argv[2];

function check(name, ok) {
  console.log(`${ok ? "ok  " : "FAIL"} ${name}`);
  if (!ok) process.exit(1);
}

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--ignore-certificate-errors"],
});
try {
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const [callee, caller] = [await context.newPage(), await context.newPage()];
  for (const page of [callee, caller]) {
    page.on("pageerror", (e) => console.log("page error:", e.message));
    await page.goto(url);
    await page.waitForSelector("body[data-ready=yes]", { timeout: 10000 });
  }
  check("both pages joined realm1", (await caller.textContent("#status")).startsWith("joined realm1"));

  await callee.click("#register");
  await callee.waitForFunction(() => document.querySelector("#callee").textContent.includes("registered"));
  await caller.fill("#a", "20");
  await caller.fill("#b", "22");
  await caller.click("#add button");
  await caller.waitForFunction(() => document.querySelector("#result").textContent.startsWith("="));
  const result = await caller.textContent("#result");
  const calleeId = (await callee.textContent("#status")).split(" ").pop();
  check(`the call is answered by the other page (${result})`, result.includes("42") && result.includes(calleeId));

  // The Wire panels: the caller sent CALL and received RESULT with the same request ID, the
  // callee received INVOCATION and sent YIELD with the same (router-chosen) request ID.
  const wire = (page) => page.$$eval("#wire li", (items) => items.map((li) => ({ ...li.dataset, text: li.textContent })));
  const line = (lines, direction, type, request) =>
    lines.find((l) => l.direction === direction && l.type === type && (request === undefined || l.request === request));
  const callerWire = await wire(caller);
  const [hello, welcome] = callerWire;
  check(`the caller's Wire panel starts with HELLO and WELCOME (${hello?.text} / ${welcome?.text})`,
    hello?.direction === "sent" && hello.type === "HELLO" && hello.text.includes("realm1") &&
    welcome?.direction === "received" && welcome.type === "WELCOME");
  const call = line(callerWire, "sent", "CALL");
  const answer = call && line(callerWire, "received", "RESULT", call.request);
  check(`the caller's Wire panel shows CALL and RESULT (${call?.text} / ${answer?.text})`,
    call?.text.includes("demo.add2 [20,22]") && answer?.text.includes('"sum":42'));
  const calleeWire = await wire(callee);
  const invocation = line(calleeWire, "received", "INVOCATION");
  const yielded = invocation && line(calleeWire, "sent", "YIELD", invocation.request);
  check(`the callee's Wire panel shows INVOCATION and YIELD (${invocation?.text} / ${yielded?.text})`,
    invocation?.text.includes("[20,22]") && yielded?.text.includes('"sum":42'));

  await caller.fill("#name", "ann");
  await caller.fill("#text", "hello from the caller");
  await caller.click("#chat button");
  for (const page of [callee, caller]) {
    await page.waitForFunction(() => document.querySelector("#messages").textContent.includes("hello from the caller"), null, { timeout: 5000 });
  }
  check("a chat message reaches both pages", true);
  await caller.screenshot({ path: "target/interop/demo.png" });
} finally {
  await browser.close();
}
console.log("browser: all checks passed");
