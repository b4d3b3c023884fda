// Interoperability: autobahn-js (npm `autobahn`, under Node) against a running wssnode.
//
// Usage: NODE_EXTRA_CA_CERTS=ca.pem node autobahn_js.mjs wss://localhost:PORT/ws
// Exits 0 when every check passed; prints one line per check.
import autobahn from "autobahn";

const url = process.argv[2];
const ticketUrl = url.replace("/ws", "/ws-ticket");

function check(name, ok) {
  console.log(`${ok ? "ok  " : "FAIL"} ${name}`);
  if (!ok) process.exit(1);
}

// Opens a connection and resolves with the joined session (or rejects with the reason).
function open(options = {}) {
  return new Promise((resolve, reject) => {
    const connection = new autobahn.Connection({ url, realm: "realm1", max_retries: 0, ...options });
    connection.onopen = (session, details) => resolve({ session, details, connection });
    connection.onclose = (reason, details) => {
      reject(new Error(`${reason} ${details.reason || ""}`));
      return true; // do not retry
    };
    connection.open();
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const a = await open();
const b = await open();

// Pub/sub: a prefix subscription gets args, kwargs and the topic.
const event = new Promise((resolve) => {
  a.session.subscribe("com.js.", (args, kwargs, details) => resolve({ args, kwargs, details }), { match: "prefix" });
});
await sleep(100);
await b.session.publish("com.js.news", [1, "two"], { three: 3 }, { acknowledge: true });
const got = await event;
check("prefix subscription receives args and kwargs", JSON.stringify(got.args) === '[1,"two"]' && got.kwargs.three === 3);
check("pattern event names its topic", got.details.topic === "com.js.news");
check("the role's disclose.publisher reveals the publisher", got.details.publisher === b.session.id);

// exclude_me: false delivers to the publisher itself.
const own = new Promise((resolve) => b.session.subscribe("com.js.echo", (args) => resolve(args[0])));
await sleep(100);
b.session.publish("com.js.echo", ["mine"], {}, { exclude_me: false });
check("exclude_me false delivers to the publisher", (await own) === "mine");

// RPC with a plain result.
await a.session.register("com.js.add2", (args) => args[0] + args[1]);
check("call returns the callee's result", (await b.session.call("com.js.add2", [2, 3])) === 5);

// Progressive results: the callee reports progress, the caller sees it before the result.
await a.session.register("com.js.countdown", async (args, kwargs, details) => {
  for (let i = args[0]; i > 0; i--) {
    if (details.progress) details.progress([i]);
    await sleep(10);
  }
  return "liftoff";
});
const progress = [];
const result = await b.session.call("com.js.countdown", [3], {}, { receive_progress: true })
  .then((r) => r, (e) => { throw e; }, (p) => progress.push(p));
check("progressive results arrive before the final one", JSON.stringify(progress) === "[3,2,1]" && result === "liftoff");

// Errors.
try {
  await b.session.call("com.js.nothing");
  check("calling a missing procedure fails", false);
} catch (e) {
  check("calling a missing procedure gives wamp.error.no_such_procedure", e.error === "wamp.error.no_such_procedure");
}
await a.session.register("com.js.fail", () => { throw new autobahn.Error("com.js.error.broken", ["it broke"]); });
try {
  await b.session.call("com.js.fail");
} catch (e) {
  check("a callee's error reaches the caller", e.error === "com.js.error.broken" && e.args[0] === "it broke");
}

// The dealer enforces CALL.Options.timeout.
await a.session.register("com.js.slow", () => sleep(5000).then(() => "late"));
try {
  await b.session.call("com.js.slow", [], {}, { timeout: 200 });
  check("a call with a timeout fails", false);
} catch (e) {
  check("the dealer enforces CALL.Options.timeout", e.error === "wamp.error.canceled");
}

// Meta API.
check("wamp.session.count counts both sessions", (await a.session.call("wamp.session.count")) >= 2);

// Ticket authentication.
const ticket = (secret) => ({
  url: ticketUrl, authmethods: ["ticket"], authid: "joe", onchallenge: () => secret,
});
const joe = await open(ticket("secret123"));
check("ticket auth with the right ticket joins as the principal's role", joe.details.authid === "joe" && joe.details.authrole === "user");
try {
  await open(ticket("wrong"));
  check("a wrong ticket is refused", false);
} catch (e) {
  check("a wrong ticket is refused with wamp.error.not_authorized", String(e.message).includes("wamp.error.not_authorized"));
}

// CBOR: a wamp.2.cbor session shares the realm with JSON ones, bytes and all.
const cbor = await open({ serializers: [new autobahn.serializer.CBORSerializer()] });
check("a session speaks wamp.2.cbor", cbor.connection.transport.info.protocol === "wamp.2.cbor");
const bytesEvent = new Promise((resolve) => a.session.subscribe("com.js.cbor", (args) => resolve(args)));
await sleep(100);
await cbor.session.publish("com.js.cbor", [Buffer.from([0, 1, 2]), "text"], {}, { acknowledge: true });
const got2 = await bytesEvent;
// autobahn-js's JSON serializer leaves the spec's JSON form of bytes as it is.
check("bytes published over CBOR reach a JSON session in the spec's form (NUL + base64)", got2[0] === "\u0000AAEC" && got2[1] === "text");
const cborBytes = new Promise((resolve) => cbor.session.subscribe("com.js.cbor2", (args) => resolve(args)));
await sleep(100);
await a.session.publish("com.js.cbor2", ["\u0000AAEC"], {}, { acknowledge: true });
const got3 = await cborBytes;
check("the spec's JSON form of bytes reaches a CBOR session as bytes", Buffer.isBuffer(got3[0]) && got3[0].equals(Buffer.from([0, 1, 2])));
await cbor.session.register("com.js.cbor.echo", (args) => args[0]);
const echoed = await a.session.call("com.js.cbor.echo", [{ nested: [1.5, -2, null] }]);
check("a JSON caller reaches a CBOR callee and back", JSON.stringify(echoed) === '{"nested":[1.5,-2,null]}');

for (const c of [a, b, joe, cbor]) c.connection.close();
console.log("autobahn-js: all checks passed");
process.exit(0);
