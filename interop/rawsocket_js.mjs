// RawSocket interop: autobahn-js (npm `autobahn`, under Node) joins over RawSocket on plain
// TCP and meets a WebSocket session in the same realm.
//
// Usage: NODE_EXTRA_CA_CERTS=ca.pem node rawsocket_js.mjs RS_PORT wss://localhost:PORT/ws
import { check, join } from "./lib.mjs";

const [rsPort, wsUrl] = process.argv.slice(2);

const ws = await join({ url: wsUrl });
const raw = await join({ transports: [{ type: "rawsocket", host: "127.0.0.1", port: Number(rsPort) }] });
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
