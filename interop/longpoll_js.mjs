// Long-poll interop: autobahn-js (npm `autobahn`, under Node, with xhr2 as its
// XMLHttpRequest) joins over long-poll and meets a WebSocket session in the same realm.
//
// Usage: NODE_EXTRA_CA_CERTS=ca.pem node longpoll_js.mjs https://localhost:PORT/lp wss://localhost:PORT/ws
import { check, join } from "./lib.mjs";
import XMLHttpRequest from "xhr2";

globalThis.XMLHttpRequest = XMLHttpRequest;
const [lpUrl, wsUrl] = process.argv.slice(2);

const ws = await join({ url: wsUrl });
const lp = await join({ transports: [{ type: "longpoll", url: lpUrl, request_timeout: 3000 }] });
check("autobahn-js joins realm1 over long-poll", lp.session.id > 0);
const news = new Promise((resolve) => ws.session.subscribe("com.js.lp", (args) => resolve(args)));
await new Promise((r) => setTimeout(r, 200));
await lp.session.publish("com.js.lp", ["hello over long-poll"], {}, { acknowledge: true });
check("an event published over long-poll reaches a WebSocket subscriber", (await news)[0] === "hello over long-poll");
const back = new Promise((resolve) => lp.session.subscribe("com.js.ws", (args) => resolve(args)));
await new Promise((r) => setTimeout(r, 300));
await ws.session.publish("com.js.ws", ["hello to long-poll"], {}, { acknowledge: true });
check("an event published over WebSocket reaches a long-poll subscriber", (await back)[0] === "hello to long-poll");
await ws.session.register("com.js.add", ([a, b]) => a + b);
check("a call over long-poll reaches a WebSocket callee", (await lp.session.call("com.js.add", [40, 2])) === 42);
lp.connection.close();
ws.connection.close();
process.exit(0);
