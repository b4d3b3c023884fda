//! Cookie tracking (Crossbar's `cookie` of a WebSocket path): a browser gets a random
//! cookie on its first WebSocket; once a session on a connection with that cookie has
//! authenticated, the cookie remembers who it was, and the `cookie` auth method lets the
//! next connection with it join as the same authid and role without credentials, until the
//! cookie expires (`max_age`) or the session leaves with `wamp.close.logout`.
//!
//! Only cookies the node issued are ever bound (a cookie a client made up is replaced), the
//! cookie is `HttpOnly` and `SameSite=Lax` unless configured otherwise (so another site's
//! page cannot open a WebSocket that logs in as its visitor), and the store is bounded: at
//! most `max_cookies` cookies bound by logins (wssnode's key), as many bound by anonymous
//! logins and as many unbound ones, the oldest of each dropped first, and a binding holds no more than a login's worth (never what the
//! client sent).

use crate::config::CookieConfig;
use crate::wamp::peer::Outbox;
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, Write};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Who a cookie stands for: the session that authenticated on a connection with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    pub authid: String,
    pub authrole: String,
    pub authmethod: String,
    pub authrealm: String,
    pub authextra: Option<Value>,
}

struct Record {
    /// Seconds since the epoch.
    created: u64,
    binding: Option<Binding>,
}

/// What a cookie stands for, each kind with its own bound: anonymous logins cannot push
/// real ones out, nor unbound cookies either.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Issued, not yet bound.
    Unbound = 0,
    /// Bound by a login with credentials.
    Login = 1,
    /// Bound by an anonymous login.
    Anonymous = 2,
}

const KINDS: [Kind; 3] = [Kind::Unbound, Kind::Login, Kind::Anonymous];

fn kind_of(binding: &Option<Binding>) -> Kind {
    match binding {
        None => Kind::Unbound,
        Some(b) if b.authmethod == "anonymous" => Kind::Anonymous,
        Some(_) => Kind::Login,
    }
}

#[derive(Default)]
struct Store {
    records: HashMap<String, Record>,
    /// Cookies of each kind, oldest first. An entry whose cookie has gone or changed kind
    /// since is stale and skipped (and compacted away).
    orders: [VecDeque<String>; 3],
    /// Cookies of each kind.
    counts: [usize; 3],
}

impl Store {
    fn kind(&self, value: &str) -> Option<Kind> {
        self.records.get(value).map(|r| kind_of(&r.binding))
    }

    /// Keeps `record` for `value`: the newest of its kind, or, when `value` already was of
    /// that kind, in its place (a cookie bound again by each login must not add an entry to
    /// the order each time: the order would grow past the count, unbounded).
    fn insert(&mut self, value: &str, record: Record) {
        let kind = kind_of(&record.binding);
        if self.kind(value) == Some(kind) {
            self.records.insert(value.to_string(), record);
            return;
        }
        self.remove(value);
        self.counts[kind as usize] += 1;
        self.orders[kind as usize].push_back(value.to_string());
        self.records.insert(value.to_string(), record);
    }

    fn remove(&mut self, value: &str) {
        if let Some(old) = self.records.remove(value) {
            self.counts[kind_of(&old.binding) as usize] -= 1;
        }
    }

    /// Bound cookies, of both kinds (what the file keeps).
    fn bound(&self) -> usize {
        self.counts[Kind::Login as usize] + self.counts[Kind::Anonymous as usize]
    }

    /// Drops the oldest cookies of each kind past `max`: each step pops one entry, so the
    /// work is what was added since, never the size of the store.
    fn evict(&mut self, max: usize) {
        for kind in KINDS {
            let k = kind as usize;
            while self.counts[k] > max {
                let Some(oldest) = self.orders[k].pop_front() else {
                    break;
                };
                if self.kind(&oldest) == Some(kind) {
                    self.remove(&oldest);
                }
            }
            // Stale entries (cookies bound, logged out or dropped since) are compacted
            // away once they outnumber the live ones.
            if self.orders[k].len() > 2 * max + 64 {
                let records = &self.records;
                self.orders[k]
                    .retain(|c| records.get(c).is_some_and(|r| kind_of(&r.binding) == kind));
            }
        }
    }
}

/// The cookies of one WebSocket path.
pub struct CookieStore {
    pub config: CookieConfig,
    store: Mutex<Store>,
    file: Option<Mutex<StoreFile>>,
    /// The open connections of each cookie, so a logout closes the others (other tabs).
    open: Mutex<HashMap<String, Vec<(u64, Outbox)>>>,
    next_connection: std::sync::atomic::AtomicU64,
}

/// The file store: appended to, and written anew once most of its lines are out of date.
struct StoreFile {
    file: std::fs::File,
    lines: usize,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

impl CookieStore {
    /// A store, loaded from its file when it has one. `Err` names what went wrong.
    pub fn open(config: CookieConfig) -> Result<CookieStore, String> {
        let mut store = Store::default();
        let file = match &config.file {
            None => None,
            Some(path) => {
                load(path, &mut store, &config)?;
                if config.purge_on_startup {
                    rewrite(path, &store)?;
                }
                let lines = if config.purge_on_startup {
                    store.bound()
                } else {
                    count_lines(path)
                };
                Some(Mutex::new(StoreFile {
                    file: open_append(path)?,
                    lines,
                }))
            }
        };
        Ok(CookieStore {
            config,
            store: Mutex::new(store),
            file,
            open: Mutex::default(),
            next_connection: std::sync::atomic::AtomicU64::new(1),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        crate::lock(&self.store)
    }

    /// The value of our cookie in a request's `Cookie` header, if it is one we issued and
    /// it has not expired.
    pub fn known(&self, cookie_header: Option<&str>) -> Option<String> {
        let value = find_cookie(cookie_header?, &self.config.name)?;
        let store = self.lock();
        let record = store.records.get(value)?;
        (now() < record.created.saturating_add(self.config.max_age)).then(|| value.to_string())
    }

    /// Issues a new cookie; returns its value.
    pub fn issue(&self) -> String {
        let value = crate::wamp::auth::crypto::random_token(self.config.length);
        let mut store = self.lock();
        store.insert(
            &value,
            Record {
                created: now(),
                binding: None,
            },
        );
        store.evict(self.config.max_cookies.max(1));
        value
    }

    /// The `Set-Cookie` header for a new cookie, as Crossbar writes it.
    pub fn set_cookie(&self, value: &str, tls: bool) -> String {
        let c = &self.config;
        let mut header = format!("{}={value};max-age={}", c.name, c.max_age);
        if c.secure.unwrap_or(tls) {
            header.push_str(";Secure");
        }
        if c.http_strict {
            header.push_str(";HttpOnly");
        }
        if let Some(same_site) = &c.same_site {
            header.push_str(&format!(";SameSite={same_site}"));
        }
        header
    }

    /// Who the cookie stands for, if a session bound it.
    pub fn binding(&self, value: &str) -> Option<Binding> {
        let store = self.lock();
        let record = store.records.get(value)?;
        if now() >= record.created.saturating_add(self.config.max_age) {
            return None;
        }
        record.binding.clone()
    }

    /// Remembers who authenticated on a connection with this cookie.
    pub fn bind(&self, value: &str, binding: Binding) {
        let mut store = self.lock();
        let Some(record) = store.records.get(value) else {
            return;
        };
        if record.binding.as_ref() == Some(&binding) {
            return;
        }
        let created = record.created;
        store.insert(
            value,
            Record {
                created,
                binding: Some(binding.clone()),
            },
        );
        store.evict(self.config.max_cookies.max(1));
        drop(store);
        self.append(json!({
            "cbtid": value,
            "created": created,
            "authid": binding.authid,
            "authrole": binding.authrole,
            "authmethod": binding.authmethod,
            "authrealm": binding.authrealm,
            "authextra": binding.authextra,
        }));
    }

    /// Logs the cookie out (`wamp.close.logout`): it stands for no one any more.
    /// Every other open connection with the cookie is closed: its browser is logged out
    /// too (Crossbar means to do this and does not).
    pub fn logout(&self, value: &str, connection: u64) {
        let mut store = self.lock();
        if store.records.contains_key(value) {
            store.remove(value);
            drop(store);
            self.append(json!({"cbtid": value, "deleted": true}));
        }
        let others = self.open_lock().remove(value).unwrap_or_default();
        for (id, outbox) in others {
            if id == connection {
                self.attach_as(value, id, outbox);
            } else {
                outbox.close(CloseCode::Normal, "logged out");
            }
        }
    }

    fn open_lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<(u64, Outbox)>>> {
        crate::lock(&self.open)
    }

    /// Notes an open connection with the cookie; returns its number, for `detach`.
    pub fn attach(&self, value: &str, outbox: Outbox) -> u64 {
        let id = self
            .next_connection
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.attach_as(value, id, outbox);
        id
    }

    fn attach_as(&self, value: &str, id: u64, outbox: Outbox) {
        self.open_lock()
            .entry(value.to_string())
            .or_default()
            .push((id, outbox));
    }

    /// The connection has closed.
    pub fn detach(&self, value: &str, connection: u64) {
        let mut open = self.open_lock();
        if let Some(list) = open.get_mut(value) {
            list.retain(|(id, _)| *id != connection);
            if list.is_empty() {
                open.remove(value);
            }
        }
    }

    /// Appends a record to the file store; a failure is logged, the memory store goes on.
    /// Once the file holds twice as many lines as there are bound cookies (and 1,024 more),
    /// it is written anew with only those.
    fn append(&self, record: Value) {
        let (Some(file), Some(path)) = (&self.file, &self.config.file) else {
            return;
        };
        let mut file = crate::lock(file);
        let line = format!("{record}\n");
        let written = file.file.write_all(line.as_bytes());
        if let Err(e) = written.and_then(|()| file.file.sync_data()) {
            log::warn!("cookie store: cannot write {}: {e}", path.display());
        }
        file.lines += 1;
        let live = self.lock().bound();
        if file.lines > 2 * live + 1024 {
            let rewritten = rewrite(path, &self.lock()).and_then(|()| open_append(path));
            match rewritten {
                Ok(fresh) => {
                    file.file = fresh;
                    file.lines = live;
                }
                Err(e) => log::warn!("cookie store: {e}"),
            }
        }
    }
}

fn open_append(path: &std::path::Path) -> Result<std::fs::File, String> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))
}

fn count_lines(path: &std::path::Path) -> usize {
    std::fs::File::open(path)
        .map(|f| std::io::BufReader::new(f).lines().count())
        .unwrap_or(0)
}

/// Reads a file store: one JSON record per line, the last for a cookie wins.
fn load(path: &std::path::Path, store: &mut Store, config: &CookieConfig) -> Result<(), String> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let now = now();
    for line in std::io::BufReader::new(file).lines() {
        let line = line.map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let Ok(record) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let Some(cbtid) = record.get("cbtid").and_then(Value::as_str) else {
            continue;
        };
        if record.get("deleted").and_then(Value::as_bool) == Some(true) {
            store.remove(cbtid);
            continue;
        }
        let created = record.get("created").and_then(Value::as_u64).unwrap_or(0);
        let text = |k: &str| record.get(k).and_then(Value::as_str).map(str::to_string);
        let binding = match (
            text("authid"),
            text("authrole"),
            text("authmethod"),
            text("authrealm"),
        ) {
            (Some(authid), Some(authrole), Some(authmethod), Some(authrealm)) => Some(Binding {
                authid,
                authrole,
                authmethod,
                authrealm,
                authextra: record.get("authextra").filter(|v| !v.is_null()).cloned(),
            }),
            _ => None,
        };
        if config.purge_on_startup && now >= created.saturating_add(config.max_age) {
            continue;
        }
        store.insert(cbtid, Record { created, binding });
    }
    store.evict(config.max_cookies.max(1));
    Ok(())
}

/// Writes the file store anew with only what is in memory (after a purge).
fn rewrite(path: &std::path::Path, store: &Store) -> Result<(), String> {
    let mut text = String::new();
    let mut written = std::collections::HashSet::new();
    let bound = [Kind::Login, Kind::Anonymous].map(|k| &store.orders[k as usize]);
    for cbtid in bound.into_iter().flatten() {
        let Some(record) = store.records.get(cbtid) else {
            continue;
        };
        if !written.insert(cbtid) {
            continue;
        }
        let Some(b) = &record.binding else { continue };
        let line = json!({
            "cbtid": cbtid, "created": record.created, "authid": b.authid,
            "authrole": b.authrole, "authmethod": b.authmethod, "authrealm": b.authrealm,
            "authextra": b.authextra,
        });
        text.push_str(&format!("{line}\n"));
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| format!("cannot rewrite {}: {e}", path.display()))
}

/// The value of cookie `name` in a `Cookie` header.
fn find_cookie<'h>(header: &'h str, name: &str) -> Option<&'h str> {
    header.split(';').find_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        (key == name).then(|| value.trim_matches('"'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(authid: &str) -> Binding {
        Binding {
            authid: authid.into(),
            authrole: "user".into(),
            authmethod: "wampcra".into(),
            authrealm: "realm1".into(),
            authextra: None,
        }
    }

    #[test]
    fn a_cookie_made_up_by_a_client_is_not_known() {
        let store = CookieStore::open(CookieConfig::default()).expect("memory store");
        assert_eq!(store.known(Some("cbtid=madeup")), None);
        let issued = store.issue();
        let header = format!("other=1; cbtid={issued}");
        assert_eq!(store.known(Some(&header)), Some(issued));
    }

    #[test]
    fn a_bound_cookie_remembers_until_logout() {
        let store = CookieStore::open(CookieConfig::default()).expect("memory store");
        let c = store.issue();
        assert_eq!(store.binding(&c), None);
        store.bind(&c, binding("joe"));
        assert_eq!(store.binding(&c), Some(binding("joe")));
        store.logout(&c, 0);
        assert_eq!(store.binding(&c), None);
        assert_eq!(store.known(Some(&format!("cbtid={c}"))), None);
    }

    #[test]
    fn the_store_is_bounded_and_drops_unbound_cookies_first() {
        let config = CookieConfig {
            max_cookies: 10,
            ..CookieConfig::default()
        };
        let store = CookieStore::open(config).expect("memory store");
        let kept = store.issue();
        store.bind(&kept, binding("joe"));
        for _ in 0..1000 {
            store.issue();
        }
        assert_eq!(store.binding(&kept), Some(binding("joe")));
        assert!(store.lock().records.len() <= 20);
        assert!(
            store.lock().orders[Kind::Unbound as usize].len() <= 2 * 10 + 64 + 1,
            "stale entries are compacted"
        );
        for i in 0..100 {
            let c = store.issue();
            store.bind(&c, binding(&format!("u{i}")));
        }
        assert!(store.lock().bound() <= 10);
    }

    #[test]
    fn a_cookie_bound_again_and_again_holds_one_entry() {
        let store = CookieStore::open(CookieConfig::default()).expect("memory store");
        let c = store.issue();
        for i in 0..10_000 {
            let mut anonymous = binding(&format!("anon-{i}"));
            anonymous.authmethod = "anonymous".into();
            store.bind(&c, anonymous);
        }
        let held = store.lock();
        assert_eq!(held.counts[Kind::Anonymous as usize], 1);
        assert!(
            held.orders[Kind::Anonymous as usize].len() <= 2,
            "{}",
            held.orders[Kind::Anonymous as usize].len()
        );
    }

    #[test]
    fn anonymous_logins_never_push_a_real_login_out() {
        let config = CookieConfig {
            max_cookies: 5,
            ..CookieConfig::default()
        };
        let store = CookieStore::open(config).expect("memory store");
        let joe = store.issue();
        store.bind(&joe, binding("joe"));
        for i in 0..50 {
            let c = store.issue();
            let mut anonymous = binding(&format!("anon-{i}"));
            anonymous.authmethod = "anonymous".into();
            store.bind(&c, anonymous);
        }
        assert_eq!(store.binding(&joe), Some(binding("joe")));
        assert_eq!(store.lock().counts[Kind::Anonymous as usize], 5);
    }

    #[test]
    fn the_file_store_survives_a_restart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = CookieConfig {
            file: Some(dir.path().join("cookies.dat")),
            ..CookieConfig::default()
        };
        let store = CookieStore::open(config.clone()).expect("file store");
        let (joe, ann) = (store.issue(), store.issue());
        store.bind(&joe, binding("joe"));
        store.bind(&ann, binding("ann"));
        store.logout(&ann, 0);
        drop(store);
        let again = CookieStore::open(config.clone()).expect("file store");
        assert_eq!(again.binding(&joe), Some(binding("joe")));
        assert_eq!(again.binding(&ann), None, "a logout is remembered too");
        // Logins and logouts by the thousand: the file stays about as long as what it holds.
        for _ in 0..3000 {
            let c = again.issue();
            again.bind(&c, binding("someone"));
            again.logout(&c, 0);
        }
        let path = config.file.clone().expect("file");
        let lines = std::fs::read_to_string(&path)
            .expect("read")
            .lines()
            .count();
        assert!(lines <= 2 + 1024 + 1, "{lines} lines");
        drop(again);
        let third = CookieStore::open(config).expect("file store");
        assert_eq!(
            third.binding(&joe),
            Some(binding("joe")),
            "joe survives the rewrite"
        );
    }
}
