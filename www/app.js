// The demo page: a chat over publish/subscribe and a calculator over RPC, on wamp.js, and
// the "Wire" panel listing every WAMP message the page sends and receives.
import { connect, typeName } from "./wamp.js";

const $ = (id) => document.getElementById(id);
const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;

function show(list, text) {
  const item = document.createElement("li");
  item.textContent = text;
  list.append(item);
}

// Where each message type keeps its request ID, URI and arguments (the index in the list;
// keyword arguments follow the arguments). From the WAMP spec, "Message Definitions".
const FIELDS = {
  HELLO: { uri: 1 },                     // [HELLO, realm, details]
  WELCOME: {},                           // [WELCOME, session, details]
  ABORT: { uri: 2 },                     // [ABORT, details, reason]
  GOODBYE: { uri: 2 },                   // [GOODBYE, details, reason]
  ERROR: { request: 2, uri: 4, args: 5 }, // [ERROR, request type, request, details, error, ...]
  PUBLISH: { request: 1, uri: 3, args: 4 },
  PUBLISHED: { request: 1 },
  SUBSCRIBE: { request: 1, uri: 3 },
  SUBSCRIBED: { request: 1 },
  UNSUBSCRIBE: { request: 1 },
  UNSUBSCRIBED: { request: 1 },
  EVENT: { args: 4 },                    // [EVENT, subscription, publication, details, ...]
  CALL: { request: 1, uri: 3, args: 4 },
  RESULT: { request: 1, args: 3 },
  REGISTER: { request: 1, uri: 3 },
  REGISTERED: { request: 1 },
  UNREGISTER: { request: 1 },
  UNREGISTERED: { request: 1 },
  INVOCATION: { request: 1, args: 4 },   // names the registration ID, not the procedure
  YIELD: { request: 1, args: 3 },
};
const WIRE_KEPT = 40;

// Compact JSON of the arguments and keyword arguments, cut to fit one line.
function brief(args = [], kwargs = {}) {
  let text = JSON.stringify(args);
  if (kwargs && Object.keys(kwargs).length) text += " " + JSON.stringify(kwargs);
  return text.length > 80 ? text.slice(0, 79) + "…" : text;
}

// One line per message, newest at the bottom: "→ CALL #3 demo.add2 [20,22]".
// Everything shown comes from the network, so it goes in as text, never as HTML.
function showWire(direction, message) {
  const type = typeName(message[0]);
  const { request, uri, args } = FIELDS[type] ?? {};
  const item = document.createElement("li");
  item.dataset.direction = direction;
  item.dataset.type = type;
  const part = (className, text) => {
    const span = document.createElement("span");
    span.className = className;
    span.textContent = text;
    item.append(" ", span);
  };
  item.append(direction === "sent" ? "→" : "←");
  part("type", type);
  if (request !== undefined) {
    item.dataset.request = message[request];
    part("request", `#${message[request]}`);
  }
  if (uri !== undefined) part("uri", message[uri]);
  if (args !== undefined && message.length > args) part("args", brief(message[args], message[args + 1]));

  const list = $("wire");
  list.append(item);
  while (list.children.length > WIRE_KEPT) list.firstElementChild.remove();
  list.scrollTop = list.scrollHeight;
}

async function main() {
  const session = await connect(url, "realm1", { onwire: showWire });
  $("status").textContent = `joined realm1 as session ${session.id}`;
  session.onclose = (e) => { $("status").textContent = `disconnected (${e.code})`; };

  // Chat: subscribe to the topic, publish to it on submit. `exclude_me: false` so the
  // sender sees its own message come back through the router.
  await session.subscribe("demo.chat.message", ([name, text]) => show($("messages"), `${name}: ${text}`));
  $("chat").addEventListener("submit", (e) => {
    e.preventDefault();
    session.publish("demo.chat.message", [$("name").value, $("text").value], {}, { exclude_me: false });
    $("text").value = "";
  });

  // Calculator: this page can become the callee; any page can be the caller.
  $("register").addEventListener("click", async () => {
    try {
      await session.register("demo.add2", ([a, b]) => {
        $("callee").textContent = `answered demo.add2(${a}, ${b})`;
        return { sum: a + b, by: session.id };
      });
      $("callee").textContent = "demo.add2 is registered here";
    } catch (e) {
      $("callee").textContent = `not registered: ${e.message}`;
    }
  });
  $("add").addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const { sum, by } = await session.call("demo.add2", [Number($("a").value), Number($("b").value)]);
      $("result").textContent = `= ${sum} (computed by session ${by})`;
    } catch (err) {
      $("result").textContent = `error: ${err.uri || err.message}`;
    }
  });
  document.body.dataset.ready = "yes";
}

main().catch((e) => { $("status").textContent = `cannot join: ${e.message}`; });
