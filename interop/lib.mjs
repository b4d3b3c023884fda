// Shared by the autobahn-js scripts in interop/: one line per check, and a session opened
// with autobahn-js's Connection.
import autobahn from "autobahn";

// Prints the check; exits 1 at the first that fails, with what was got.
export function check(name, ok, got) {
  console.log(`${ok ? "ok  " : "FAIL"} ${name}${ok ? "" : ` (got: ${got})`}`);
  if (!ok) process.exit(1);
}

// Joins realm1 with these Connection options; resolves with {session, details, connection},
// or rejects with the ABORT reason.
export function join(options) {
  return new Promise((resolve, reject) => {
    const connection = new autobahn.Connection({ realm: "realm1", max_retries: 0, ...options });
    connection.onopen = (session, details) => resolve({ session, details, connection });
    connection.onclose = (reason, details) => {
      reject(new Error(details.reason || reason));
      return true;
    };
    connection.open();
  });
}
