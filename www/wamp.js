// wamp.js: a small WAMP v2 client for the browser, written to be read.
//
// WAMP ("Web Application Messaging Protocol", https://wamp-proto.org) runs over one
// WebSocket and gives two patterns:
//   - publish/subscribe: a client publishes an event to a topic, and the router (here,
//     wssnode) delivers it to every client that subscribed to that topic;
//   - remote procedure calls: a client registers a procedure, another calls it, and the
//     router carries the call to the callee and the result back to the caller.
// Every message is a JSON list whose first element is a number naming the message type.
// This file speaks the Basic Profile plus a few options; read it top to bottom.
//
// To watch the protocol itself, pass connect() an `onwire(direction, message)` function:
// it sees every message as it goes out ("sent") or comes in ("received"), HELLO included.

// 1. The message types we send or receive (WAMP spec, "Message Codes").
const HELLO = 1, WELCOME = 2, ABORT = 3, GOODBYE = 6, ERROR = 8;
const PUBLISH = 16, PUBLISHED = 17, SUBSCRIBE = 32, SUBSCRIBED = 33;
const UNSUBSCRIBE = 34, UNSUBSCRIBED = 35, EVENT = 36;
const CALL = 48, RESULT = 50, REGISTER = 64, REGISTERED = 65;
const UNREGISTER = 66, UNREGISTERED = 67, INVOCATION = 68, YIELD = 70;

// Their names, for showing messages to people: typeName(48) is "CALL".
const NAMES = {
  [HELLO]: "HELLO", [WELCOME]: "WELCOME", [ABORT]: "ABORT", [GOODBYE]: "GOODBYE",
  [ERROR]: "ERROR", [PUBLISH]: "PUBLISH", [PUBLISHED]: "PUBLISHED",
  [SUBSCRIBE]: "SUBSCRIBE", [SUBSCRIBED]: "SUBSCRIBED", [UNSUBSCRIBE]: "UNSUBSCRIBE",
  [UNSUBSCRIBED]: "UNSUBSCRIBED", [EVENT]: "EVENT", [CALL]: "CALL", [RESULT]: "RESULT",
  [REGISTER]: "REGISTER", [REGISTERED]: "REGISTERED", [UNREGISTER]: "UNREGISTER",
  [UNREGISTERED]: "UNREGISTERED", [INVOCATION]: "INVOCATION", [YIELD]: "YIELD",
};
export const typeName = (type) => NAMES[type] ?? `type ${type}`;

// 2. An error that came back from the router or from a callee, with its URI
//    (for example "wamp.error.no_such_procedure").
export class WampError extends Error {
  constructor(uri, args = [], kwargs = {}) {
    super(args.length ? `${uri}: ${args[0]}` : uri);
    this.uri = uri;
    this.args = args;
    this.kwargs = kwargs;
  }
}

// 3. Connecting: open a WebSocket with the subprotocol "wamp.2.json", send HELLO naming the
//    realm (a routing namespace) and the roles we play, and wait for WELCOME.
//    `onwire` is given here, not set on the session afterwards, so that it sees HELLO too.
export function connect(url, realm, { onwire } = {}) {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, ["wamp.2.json"]);
    const session = new Session(socket, onwire);
    socket.onopen = () => {
      session.send([HELLO, realm, {
        roles: { publisher: {}, subscriber: {}, caller: {}, callee: {} },
      }]);
    };
    socket.onmessage = (frame) => {
      const message = session.parse(frame);
      if (message[0] === WELCOME) {
        session.id = message[1];
        session.details = message[2];
        // From now on every message goes to the session.
        socket.onmessage = (f) => session.receive(session.parse(f));
        resolve(session);
      } else if (message[0] === ABORT) {
        reject(new WampError(message[2], [message[1].message]));
        socket.close();
      }
    };
    socket.onerror = () => reject(new Error(`cannot open ${url}`));
    socket.onclose = (e) => session.closed(e);
  });
}

// 4. A session: the state of one joined WebSocket.
export class Session {
  constructor(socket, onwire = () => {}) {
    this.socket = socket;
    this.id = null;
    // Request IDs: every request we send carries a number, and the router's answer
    // carries it back, so we can match answers to questions.
    this.nextRequest = 1;
    this.pending = new Map();        // request ID -> {resolve, reject, ...}
    this.subscriptions = new Map();  // subscription ID -> handler
    this.registrations = new Map();  // registration ID -> procedure function
    this.onclose = () => {};
    this.onwire = onwire;
  }

  // send() and parse() are the only places a message crosses the wire, so the onwire
  // hook sits in these two and misses nothing.
  send(message) {
    this.socket.send(JSON.stringify(message));
    this.onwire("sent", message);
  }

  parse(frame) {
    const message = JSON.parse(frame.data);
    this.onwire("received", message);
    return message;
  }

  // Sends a request and returns a promise for the router's answer.
  request(message, extra = {}) {
    const id = this.nextRequest++;
    message.splice(1, 0, id); // the request ID is always the second field
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, ...extra });
      this.send(message);
    });
  }

  // 5. Publish and subscribe.

  // subscribe("chat.message", (args, kwargs, details) => ...) resolves once subscribed.
  async subscribe(topic, handler, options = {}) {
    const subscription = await this.request([SUBSCRIBE, options, topic]);
    this.subscriptions.set(subscription, handler);
    return subscription;
  }

  async unsubscribe(subscription) {
    await this.request([UNSUBSCRIBE, subscription]);
    this.subscriptions.delete(subscription);
  }

  // publish() without acknowledge sends and forgets; with { acknowledge: true } it
  // resolves when the router has accepted the event (or rejects with its error).
  publish(topic, args = [], kwargs = {}, options = {}) {
    if (options.acknowledge) {
      return this.request([PUBLISH, options, topic, args, kwargs]);
    }
    this.send([PUBLISH, this.nextRequest++, options, topic, args, kwargs]);
    return Promise.resolve();
  }

  // 6. Remote procedure calls.

  // register("demo.add2", (args, kwargs, details) => result). The function may return a
  // value or a promise; throwing a WampError sends that error back to the caller.
  async register(procedure, fn, options = {}) {
    const registration = await this.request([REGISTER, options, procedure]);
    this.registrations.set(registration, fn);
    return registration;
  }

  async unregister(registration) {
    await this.request([UNREGISTER, registration]);
    this.registrations.delete(registration);
  }

  // call("demo.add2", [2, 3]) resolves with the callee's result.
  call(procedure, args = [], kwargs = {}, options = {}) {
    return this.request([CALL, options, procedure, args, kwargs]);
  }

  // 7. Leaving: GOODBYE, and the router answers GOODBYE.
  close() {
    this.send([GOODBYE, {}, "wamp.close.close_realm"]);
  }

  // 8. Everything the router sends after WELCOME arrives here.
  receive(message) {
    const [type] = message;
    switch (type) {
      case SUBSCRIBED:
      case REGISTERED:
      case PUBLISHED:
        // [TYPE, request, id]: the answer is the new ID.
        this.settle(message[1], message[2]);
        break;
      case UNSUBSCRIBED:
      case UNREGISTERED:
        this.settle(message[1], null);
        break;
      case RESULT: {
        // [RESULT, request, details, args?, kwargs?]: a single result is unwrapped.
        const [, request, , args = [], kwargs = {}] = message;
        this.settle(request, args.length === 1 && Object.keys(kwargs).length === 0 ? args[0] : { args, kwargs });
        break;
      }
      case ERROR: {
        // [ERROR, request type, request, details, uri, args?, kwargs?]
        const [, , request, , uri, args = [], kwargs = {}] = message;
        const waiting = this.pending.get(request);
        this.pending.delete(request);
        if (waiting) waiting.reject(new WampError(uri, args, kwargs));
        break;
      }
      case EVENT: {
        // [EVENT, subscription, publication, details, args?, kwargs?]
        const [, subscription, , details, args = [], kwargs = {}] = message;
        const handler = this.subscriptions.get(subscription);
        if (handler) handler(args, kwargs, details);
        break;
      }
      case INVOCATION:
        this.invoke(message);
        break;
      case GOODBYE:
      case ABORT:
        this.socket.close(1000);
        break;
      default:
        console.warn("wamp.js: unexpected message", message);
    }
  }

  settle(request, value) {
    const waiting = this.pending.get(request);
    this.pending.delete(request);
    if (waiting) waiting.resolve(value);
  }

  // [INVOCATION, request, registration, details, args?, kwargs?]: run the procedure and
  // answer with YIELD (its result) or ERROR (what it threw).
  async invoke([, request, registration, details, args = [], kwargs = {}]) {
    const fn = this.registrations.get(registration);
    try {
      const result = await fn(args, kwargs, details);
      this.send([YIELD, request, {}, [result]]);
    } catch (e) {
      const uri = e instanceof WampError ? e.uri : "demo.error.exception";
      this.send([ERROR, INVOCATION, request, {}, uri, [String(e.message || e)]]);
    }
  }

  // The WebSocket closed: every question still open fails.
  closed(event) {
    for (const { reject } of this.pending.values()) {
      reject(new Error(`connection closed (${event.code})`));
    }
    this.pending.clear();
    this.onclose(event);
  }
}
