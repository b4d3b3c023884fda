// The demo page: a chat over publish/subscribe and a calculator over RPC, on wamp.js.
import { connect } from "./wamp.js";

const $ = (id) => document.getElementById(id);
const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;

function show(list, text) {
  const item = document.createElement("li");
  item.textContent = text;
  list.append(item);
}

async function main() {
  const session = await connect(url, "realm1");
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
