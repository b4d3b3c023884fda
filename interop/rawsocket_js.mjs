// RawSocket interop: autobahn-js (npm `autobahn`, under Node) joins over RawSocket on plain
// TCP and meets a WebSocket session in the same realm.
//
// Usage: NODE_EXTRA_CA_CERTS=ca.pem node rawsocket_js.mjs RS_PORT wss://localhost:PORT/ws
import autobahn from "autobahn";

const [rsPort, wsUrl] = process.argv.slice(2);

function check(name, ok, got) {
  console.log(`${ok ? "ok  " : "FAIL"} ${name}${ok ? "" : ` (got: ${got})`}`);
  if (!ok) process.exit(1);
}

function open(options) {
  return new Promise((resolve, reject) => {
    const connection = new autobahn.Connection({ realm: "realm1", max_retries: 0, ...options });
    connection.onopen = (session) => resolve({ session, connection });
    connection.onclose = (reason, details) => {
      reject(new Error(details.reason || reason));
      return true;
    };
    connection.open();
  });
}

const ws = await open({ url: wsUrl });
const raw = await open({ transports: [{ type: "rawsocket", host: "127.0.0.1", port: Number(rsPort) }] });
check("autobahn-js joins realm1 over RawSocket", raw.session.id > 0);
const news = new Promise((resolve) => ws.session.subscribe("com.js.rs", (args) => resolve(args)));
await new Promise((r) => setTimeout(r, 100));
await raw.session.publish("com.js.rs", ["hello over rawsocket"], {}, { acknowledge: true });
const got = await news;
check("an event published over RawSocket reaches a WebSocket subscriber", got[0] === "hello over rawsocket", got);
await ws.session.register("com.js.triple", ([x]) => x * 3);
const tripled = await raw.session.call("com.js.triple", [14]);
check("a call over RawSocket reaches a WebSocket callee", tripled === 42, tripled);
raw.connection.close();
ws.connection.close();
process.exit(0);
