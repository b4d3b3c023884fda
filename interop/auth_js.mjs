// Authentication interop: autobahn-js (npm `autobahn`, under Node) logs in to a running
// wssnode with WAMP-CRA (plain and salted), cryptosign and ticket (static and dynamic).
//
// Usage: NODE_EXTRA_CA_CERTS=ca.pem node auth_js.mjs wss://localhost:PORT CRYPTOSIGN_KEY_FILE
import autobahn from "autobahn";
import { check, join } from "./lib.mjs";
import nacl from "tweetnacl";
import { readFileSync } from "node:fs";

const [base, keyFile] = process.argv.slice(2);
const seed = Buffer.from(readFileSync(keyFile, "utf8").trim(), "hex");
const keypair = nacl.sign.keyPair.fromSeed(new Uint8Array(seed));

// Joins realm1 at base+path.
const at = (path, options = {}) => join({ url: base + path, ...options });

const reason = (p) => p.then(({ connection }) => { connection.close(); return "joined"; }, (e) => e.message);

function cra(authid, secret) {
  return {
    authmethods: ["wampcra"],
    authid,
    onchallenge: (session, method, extra) => {
      const key = extra.salt
        ? autobahn.auth_cra.derive_key(secret, extra.salt, extra.iterations, extra.keylen)
        : secret;
      return autobahn.auth_cra.sign(key, extra.challenge);
    },
  };
}

for (const authid of ["joe", "peter"]) {
  const { details, connection } = await at("/ws-cra", cra(authid, "secret2"));
  check(`wampcra ${authid === "peter" ? "salted" : "plain"}: ${authid} joins as user`,
    details.authid === authid && details.authrole === "user" && details.authmethod === "wampcra", JSON.stringify(details));
  connection.close();
}
const wrong = await reason(at("/ws-cra", cra("joe", "wrong")));
check("wampcra: a wrong secret is not_authorized", wrong === "wamp.error.not_authorized", wrong);

const cryptosign = {
  authmethods: ["cryptosign"],
  authid: "device1",
  authextra: { pubkey: Buffer.from(keypair.publicKey).toString("hex") },
  onchallenge: (session, method, extra) => autobahn.auth_cryptosign.sign_challenge(keypair, extra),
};
{
  const { details, connection } = await at("/ws-cryptosign", cryptosign);
  check("cryptosign: device1 joins with its key", details.authid === "device1" && details.authmethod === "cryptosign", JSON.stringify(details));
  connection.close();
}

const ticket = (authid, value) => ({ authmethods: ["ticket"], authid, onchallenge: () => value });
{
  const { details, connection } = await at("/ws-ticket", ticket("joe", "secret123"));
  check("ticket static: joe joins", details.authid === "joe" && details.authprovider === "static", JSON.stringify(details));
  connection.close();
}

// The dynamic ticket's authenticator, registered by a component of ours.
const backend = await at("/ws");
await backend.session.register("com.example.authenticate", ([realm, authid, details]) => {
  if (details.ticket === `js-${authid}`) return { role: "user", extra: { checked_by: "js" } };
  throw new autobahn.Error("wamp.error.not_authorized", ["wrong ticket"]);
});
{
  const { details, connection } = await at("/ws-ticket-dynamic", ticket("ann", "js-ann"));
  check("ticket dynamic: the authenticator lets ann in",
    details.authid === "ann" && details.authprovider === "dynamic" && details.authextra.checked_by === "js", JSON.stringify(details));
  connection.close();
}
const refused = await reason(at("/ws-ticket-dynamic", ticket("ann", "guess")));
check("ticket dynamic: the authenticator's refusal is the ABORT", refused === "wamp.error.not_authorized", refused);
backend.connection.close();
process.exit(0);
