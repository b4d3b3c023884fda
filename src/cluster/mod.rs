//! The cluster engine: carries a node's `wamp::cluster::Link` through Redis, and hands what
//! the other nodes say to the realms. It sits above the router (it calls the realms; the
//! router only pushes onto its link and never waits on Redis).
//!
//! One connection subscribes (the events of the channels local subscriptions listen on,
//! the `all` channel, this node's own channel) and one runs commands (the link's queue,
//! pipelined in order; the lease; claims). While Redis cannot be reached, the node serves
//! its own sessions alone: other nodes' callees and sessions are forgotten, what is
//! published for them is dropped and counted, and REGISTER is refused. Once it is back,
//! the node says hello (the others forget what they knew of it), announces its sessions
//! and callees again, and reads the others'.

use crate::config::{self, MatchPolicy};
use crate::wamp::auth::Identity;
use crate::wamp::cluster::{
    lease_key, node_channel, state_key, Channel, ClaimRefused, Control, Link, LinkQueues, Out,
    Wire, ALL, PREFIX,
};
use crate::wamp::options::Invoke;
use crate::wamp::Realms;
use futures_lite::{FutureExt, StreamExt};
use redis::aio::{MultiplexedConnection, PubSubSink};
use redis::{AsyncConnectionConfig, IntoConnectionInfo};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Adds a callee to a registration's claims unless another callee's `invoke` forbids it:
/// `single` is exclusive, and shared registrations agree on their policy. A claim's value is
/// its `invoke` and the field of its registration in its node's state; a claim whose node
/// has no lease, or whose node's state no longer has that field (the callee left while
/// Redis was away, or the node restarted), is stale and removed on the way. With an
/// announcement (ARGV[6]) it is kept in this node's state and published to every node in
/// the same step. Answers `ok` or the holder's `invoke`.
///
/// KEYS[1] the registration; ARGV: 1 the claim's field, 2 its invoke, 3 the lease prefix,
/// 4 this node's state key, 5 the callee's field there, 6 the announcement or "", 7 the
/// channel every node hears, 8 the state prefix.
const CLAIM: &str = r"
local fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields, 2 do
  local field, value = fields[i], fields[i + 1]
  if field ~= ARGV[1] then
    local node = string.match(field, '^(.*)|%d+$')
    local invoke, place = string.match(value, '^([^\n]*)\n(.*)$')
    if not node or not invoke
        or redis.call('EXISTS', ARGV[3] .. node) == 0
        or redis.call('HEXISTS', ARGV[8] .. node, place) == 0 then
      redis.call('HDEL', KEYS[1], field)
    elseif ARGV[2] == 'single' or invoke ~= ARGV[2] then
      return invoke
    end
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '\n' .. ARGV[5])
if ARGV[6] ~= '' then
  redis.call('HSET', ARGV[4], ARGV[5], ARGV[6])
  redis.call('PUBLISH', ARGV[7], ARGV[6])
end
return 'ok'
";

/// Renews a lease only while it is this run's (ARGV[1], a token new at each connection):
/// answers 0 when it had lapsed or was another's, so the node knows the others may have
/// forgotten it. ARGV[2] is the lease in milliseconds.
const RENEW: &str = r"
local held = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if held == ARGV[1] then return 1 else return 0 end
";

/// Deletes a node's state only if its lease is still gone (KEYS[1] the lease, KEYS[2] the
/// state): a node that came back in the meantime keeps what it has just announced.
const BURY: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('DEL', KEYS[2]) end
return 1
";

/// Most messages sent to Redis in one pipeline.
const BATCH: usize = 256;
/// Longest wait between two attempts to reach Redis.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What the engine's tasks share.
struct Engine {
    config: config::Cluster,
    client: redis::Client,
    link: Arc<Link>,
    realms: Arc<Realms>,
    claim: redis::Script,
    renew: redis::Script,
    bury: redis::Script,
    /// This connection's lease token.
    token: std::sync::atomic::AtomicU64,
    /// The connections while Redis is reachable; locked while they are being set up, so
    /// a `Listen` waits for them rather than being lost.
    conn: async_lock::Mutex<Option<Conns>>,
}

#[derive(Clone)]
struct Conns {
    sink: PubSubSink,
}

/// The Redis client for the cluster's URL (and password, and CA); the node runs the engine
/// with `start`. An error names the key and the problem.
pub(crate) fn client(
    config: &config::Cluster,
) -> Result<redis::Client, crate::config::error::StartError> {
    let url_error = |problem: String| {
        crate::config::error::StartError::Usage(format!("cluster `url`: {problem}"))
    };
    let mut info = config
        .url
        .as_str()
        .into_connection_info()
        .map_err(|e| url_error(format!("`{}` is not a Redis URL: {e}", config.url)))?;
    if let Some(password) = &config.password {
        let settings = info.redis_settings().clone().set_password(password);
        info = info.set_redis_settings(settings);
    }
    let Some(ca) = &config.ca_certificate else {
        return redis::Client::open(info)
            .map_err(|e| url_error(format!("cannot use `{}`: {e}", config.url)));
    };
    let pem = std::fs::read(&ca.path).map_err(|e| ca.error(format!("cannot be read: {e}")))?;
    let certificates = redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(pem),
    };
    redis::Client::build_with_tls(info, certificates)
        .map_err(|e| ca.error(format!("is not a usable CA certificate: {e}")))
}

/// Runs this node's side of the cluster for as long as the process lives.
pub(crate) fn start(
    config: config::Cluster,
    client: redis::Client,
    link: Arc<Link>,
    queues: LinkQueues,
    realms: Arc<Realms>,
) {
    let engine = Arc::new(Engine {
        config,
        client,
        link,
        realms,
        claim: redis::Script::new(CLAIM),
        renew: redis::Script::new(RENEW),
        bury: redis::Script::new(BURY),
        token: std::sync::atomic::AtomicU64::new(0),
        conn: async_lock::Mutex::new(None),
    });
    async_std::task::spawn(control_loop(engine.clone(), queues.control));
    async_std::task::spawn(connection_loop(
        engine,
        queues.out,
        queues.queued,
        queues.resync,
    ));
}

/// Connects, serves until the connection is lost, and again, with backoff.
async fn connection_loop(
    engine: Arc<Engine>,
    out: async_std::channel::Receiver<Out>,
    queued: Arc<std::sync::atomic::AtomicUsize>,
    resync: async_std::channel::Receiver<()>,
) {
    let url = engine.config.url.clone();
    let mut backoff = Duration::from_millis(100);
    let mut lost_at: Option<Instant> = None;
    let mut first = true;
    loop {
        let served = async {
            let (commands, stream) = engine.connect().await?;
            if let Some(at) = lost_at.take() {
                log::info!("cluster: Redis at {url} is back after {:.1?}; node `{}` announced its sessions and callees again", at.elapsed(), engine.link.node);
            } else if first {
                log::info!("cluster: node `{}` joined through Redis at {url} (lease {:?})", engine.link.node, engine.config.lease);
            }
            first = false;
            backoff = Duration::from_millis(100);
                        let result = engine
                .read(stream)
                .or(engine.write(commands.clone(), &out, &queued))
                .or(engine.keep_lease(commands))
                .or(async {
                    let _ = resync.recv().await;
                    "a call, an answer or an announcement for other nodes found the queue full; reconnecting so that every node learns this one's state again".to_string()
                })
                .await;
            Err::<(), String>(result)
        }
        .await;
        let why = served.err().unwrap_or_default();
        engine.link.set_connected(false);
        *engine.conn.lock().await = None;
        // Everything of the other nodes is out of reach until Redis is back.
        for realm in engine.realms.all() {
            for node in realm.remote_nodes() {
                realm.forget_node(&node, false);
            }
        }
        let mut dropped = 0;
        // Claims waiting here are answered `cluster_unavailable` as their senders drop.
        while let Ok(item) = out.try_recv() {
            queued.fetch_sub(item.size(), Ordering::Relaxed);
            dropped += 1;
        }
        while resync.try_recv().is_ok() {}
        crate::runtime::metrics::metrics().cluster_dropped(dropped);
        if lost_at.is_none() {
            lost_at = Some(Instant::now());
            log::warn!("cluster: cannot reach Redis at {url} ({why}); serving this node's sessions alone and retrying");
        } else {
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
        async_io::Timer::after(backoff).await;
    }
}

impl Engine {
    /// Connects both connections, subscribes, and brings this node and the others up to
    /// date. The lock on `conn` is held throughout.
    async fn connect(&self) -> Result<(MultiplexedConnection, redis::aio::PubSubStream), String> {
        let mut slot = self.conn.lock().await;
        let timeouts = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(self.config.lease / 2));
        let mut commands = self
            .client
            .get_multiplexed_async_connection_with_config(&timeouts)
            .await
            .map_err(|e| e.to_string())?;
        let pubsub = async {
            self.client
                .get_async_pubsub()
                .await
                .map_err(|e| e.to_string())
        }
        .or(async {
            async_io::Timer::after(Duration::from_secs(2)).await;
            Err("no answer within 2 s".to_string())
        })
        .await?;
        let (mut sink, stream) = pubsub.split();
        let me = &self.link.node;
        sink.subscribe(&[ALL.to_string(), node_channel(me)])
            .await
            .map_err(|e| e.to_string())?;
        for channel in self.link.channels() {
            listen(&mut sink, &channel)
                .await
                .map_err(|e| e.to_string())?;
        }
        // From here what the router pushes is queued, not dropped: a session that joins
        // while the others are read is announced after them, by the writer.
        self.link.set_connected(true);
        self.token
            .store(crate::wamp::message::random_id(), Ordering::Relaxed);
        // The first renewal of a connection takes the lease whatever it held.
        let _ = self.renew_lease(&mut commands).await;
        self.announce_all(&mut commands).await?;
        self.renew_lease(&mut commands).await?;
        self.read_others(&mut commands).await?;
        *slot = Some(Conns { sink });
        Ok((commands, stream))
    }

    /// Renews the lease; an error when it had lapsed since the last renewal (the others
    /// may have forgotten this node: it must say hello again).
    async fn renew_lease(&self, commands: &mut MultiplexedConnection) -> Result<(), String> {
        let millis = self.config.lease.as_millis() as u64;
        let token = self.token.load(Ordering::Relaxed);
        let held: i64 = self
            .renew
            .key(lease_key(&self.link.node))
            .arg(token)
            .arg(millis)
            .invoke_async(commands)
            .await
            .map_err(|e| e.to_string())?;
        if held == 1 {
            Ok(())
        } else {
            Err(
                "its lease lapsed (the node was paused, or Redis slow, for longer than `lease`)"
                    .into(),
            )
        }
    }

    /// Says hello (the others forget what they knew of this node), then announces every
    /// local session and callee, claiming each registration again.
    async fn announce_all(&self, commands: &mut MultiplexedConnection) -> Result<(), String> {
        let me = self.link.node.clone();
        let hello = serde_json::to_vec(&Wire::Hello { node: me.clone() }).unwrap_or_default();
        redis::pipe()
            .del(state_key(&me))
            .publish(ALL, hello)
            .query_async::<()>(commands)
            .await
            .map_err(|e| e.to_string())?;
        let mut pipe = redis::pipe();
        let mut count = 0;
        for realm in self.realms.all() {
            for (field, wire) in realm.local_announcements() {
                if let Wire::Register {
                    session,
                    uri,
                    policy,
                    invoke,
                    realm: name,
                    ..
                } = &wire
                {
                    let policy = MatchPolicy::parse(policy).unwrap_or(MatchPolicy::Exact);
                    let key = crate::wamp::cluster::registration_key(name, policy, uri);
                    let claim = crate::wamp::cluster::Claim {
                        key,
                        field: self.link.claim_field(*session),
                        invoke: invoke.clone(),
                        announcement: serde_json::to_vec(&wire).ok().map(|b| (field.clone(), b)),
                    };
                    let answer = self.run_claim(commands, &claim).await;
                    if let Err(ClaimRefused::Taken(theirs)) = answer {
                        log::error!("cluster: `{uri}` (invoke `{invoke}`) of session {session} was registered on another node (invoke `{theirs}`) while this node could not reach Redis for longer than its lease; both callees now serve their own node's callers until one unregisters");
                    }
                }
                let Ok(bytes) = serde_json::to_vec(&wire) else {
                    continue;
                };
                pipe.hset(state_key(&me), field, bytes.clone()).ignore();
                pipe.publish(ALL, bytes).ignore();
                count += 1;
                if count == BATCH {
                    pipe.query_async::<()>(commands)
                        .await
                        .map_err(|e| e.to_string())?;
                    pipe = redis::pipe();
                    count = 0;
                    // A long announcement must not let the lease lapse under it.
                    self.renew_lease(commands).await?;
                }
            }
        }
        if count > 0 {
            pipe.query_async::<()>(commands)
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Reads the sessions and callees of every node with a lease; drops the state of nodes
    /// whose lease has expired.
    async fn read_others(&self, commands: &mut MultiplexedConnection) -> Result<(), String> {
        let states: Vec<String> = scan(commands, &format!("{PREFIX}state:*")).await?;
        for key in states {
            let node = key
                .trim_start_matches(&format!("{PREFIX}state:"))
                .to_string();
            if node == self.link.node {
                continue;
            }
            let alive: bool = redis::cmd("EXISTS")
                .arg(lease_key(&node))
                .query_async(commands)
                .await
                .map_err(|e| e.to_string())?;
            if !alive {
                let _: Result<(), _> = redis::cmd("DEL").arg(&key).query_async(commands).await;
                continue;
            }
            let fields: Vec<(String, Vec<u8>)> = redis::cmd("HGETALL")
                .arg(&key)
                .query_async(commands)
                .await
                .map_err(|e| e.to_string())?;
            let wires: Vec<Wire> = fields
                .iter()
                .filter_map(|(_, v)| serde_json::from_slice(v).ok())
                .collect();
            // Sessions before their registrations.
            for wire in wires.iter().filter(|w| matches!(w, Wire::Join { .. })) {
                self.apply(wire.clone(), None);
            }
            for wire in wires
                .into_iter()
                .filter(|w| !matches!(w, Wire::Join { .. }))
            {
                self.apply(wire, None);
            }
        }
        Ok(())
    }

    /// Hands every message heard to the realms; returns why the stream ended.
    async fn read(&self, mut stream: redis::aio::PubSubStream) -> String {
        // This node's own events come back on the channels it listens on: recognized by
        // their first bytes, they are dropped unread.
        let own = serde_json::to_string(&self.link.node).unwrap_or_default();
        let own = format!(r#"{{"k":"event","n":{own},"#);
        let mut read = 0u32;
        while let Some(msg) = stream.next().await {
            // The writer and the lease share this task: a busy stream must let them run.
            read = read.wrapping_add(1);
            if read % 64 == 0 {
                futures_lite::future::yield_now().await;
            }
            let payload = msg.get_payload_bytes();
            crate::runtime::metrics::metrics().cluster_bytes(false, payload.len());
            if payload.starts_with(own.as_bytes()) {
                continue;
            }
            let Ok(wire) = serde_json::from_slice::<Wire>(payload) else {
                log::debug!(
                    "cluster: a message on `{}` that is not wssnode's",
                    msg.get_channel_name()
                );
                continue;
            };
            let heard = if msg.from_pattern() {
                match msg.get_pattern::<String>() {
                    Ok(pattern) => Channel::Glob(pattern),
                    Err(_) => continue,
                }
            } else {
                Channel::Exact(msg.get_channel_name().to_string())
            };
            self.apply(wire, Some(&heard));
        }
        "the subscription connection closed".into()
    }

    /// Realm `realm`, for a message of node `node` that is not this one (its own
    /// announcements come back on the channels it listens on).
    fn theirs(&self, realm: &str, node: &str) -> Option<Arc<crate::wamp::realm::Realm>> {
        self.realms.get(realm).filter(|_| node != self.link.node)
    }

    /// Acts on one message of another node.
    fn apply(&self, wire: Wire, heard: Option<&Channel>) {
        let me = self.link.node.as_str();
        match wire {
            Wire::Event {
                node,
                realm,
                topic,
                publication,
                publisher,
                audience,
                args,
                kwargs,
            } => {
                let (Some(heard), Some(realm)) = (heard, self.theirs(&realm, &node)) else {
                    return;
                };
                let payload = crate::wamp::message::Payload { args, kwargs };
                realm.remote_event(heard, &topic, publication, publisher, &audience, &payload);
            }
            Wire::Marker { node, token } => {
                if node == me {
                    self.link.marker_seen(token);
                }
            }
            Wire::Hello { node } => {
                if node != me {
                    for realm in self.realms.all() {
                        realm.forget_node(&node, false);
                    }
                }
            }
            Wire::Join {
                node,
                realm,
                session,
                authid,
                authrole,
                authmethod,
                authprovider,
                peer,
            } => {
                let Some(realm) = self.theirs(&realm, &node) else {
                    return;
                };
                let identity = Identity {
                    authid,
                    authrole,
                    authmethod: known_name(&authmethod),
                    authprovider: known_name(&authprovider),
                    authextra: None,
                };
                realm.remote_join(&node, session, identity, peer);
            }
            Wire::Leave {
                node,
                realm,
                session,
            } => {
                if let Some(realm) = self.theirs(&realm, &node) {
                    realm.remote_leave(&node, session, false);
                }
            }
            Wire::Subscribe {
                node,
                realm,
                session,
                id,
                uri,
                policy,
            } => {
                if let Some(realm) = self.theirs(&realm, &node) {
                    let policy = MatchPolicy::parse(&policy).unwrap_or(MatchPolicy::Exact);
                    realm.remote_subscribe(&node, session, id, policy, &uri);
                }
            }
            Wire::Unsubscribe {
                node,
                realm,
                session,
                id,
            } => {
                if let Some(realm) = self.theirs(&realm, &node) {
                    realm.remote_unsubscribe(&node, session, id);
                }
            }
            Wire::Register {
                node,
                realm,
                session,
                uri,
                policy,
                invoke,
                cancels,
            } => {
                let Some(realm) = self.theirs(&realm, &node) else {
                    return;
                };
                let policy = MatchPolicy::parse(&policy).unwrap_or(MatchPolicy::Exact);
                let mut options = serde_json::Map::new();
                options.insert("invoke".into(), invoke.into());
                let invoke = Invoke::read(&options).unwrap_or(Invoke::Single);
                realm.remote_register(&node, session, &uri, policy, invoke, cancels);
            }
            Wire::Unregister {
                node,
                realm,
                session,
                uri,
                policy,
            } => {
                if let Some(realm) = self.theirs(&realm, &node) {
                    let policy = MatchPolicy::parse(&policy).unwrap_or(MatchPolicy::Exact);
                    realm.remote_unregister(&node, session, &uri, policy);
                }
            }
            Wire::Direct {
                node,
                realm,
                session,
                message,
            } => {
                if let Some(realm) = self.theirs(&realm, &node) {
                    realm.remote_direct(&node, session, &message);
                }
            }
        }
    }

    /// Sends the link's queue to Redis, in order, a pipeline at a time; returns why it
    /// stopped.
    async fn write(
        &self,
        mut commands: MultiplexedConnection,
        out: &async_std::channel::Receiver<Out>,
        queued: &std::sync::atomic::AtomicUsize,
    ) -> String {
        loop {
            let Ok(first) = out.recv().await else {
                return "the node is stopping".into();
            };
            let mut pipe = redis::pipe();
            let mut bytes = 0;
            let mut next = Some(first);
            // Items taken, and commands in `pipe`.
            let (mut n, mut commands_in) = (0, 0);
            while let Some(item) = next.take() {
                bytes += item.size();
                n += 1;
                match item {
                    Out::Publish { channel, payload } => {
                        pipe.publish(channel, payload).ignore();
                    }
                    Out::Set { key, field, value } => {
                        pipe.hset(key, field, value).ignore();
                    }
                    Out::Delete { key, field } => {
                        pipe.hdel(key, field).ignore();
                    }
                    Out::Claim(claim, answer) => {
                        // What came before it goes first; then the claim, in its place.
                        if commands_in > 0 {
                            if let Err(e) = pipe.query_async::<()>(&mut commands).await {
                                return e.to_string();
                            }
                            pipe = redis::pipe();
                            commands_in = 0;
                        }
                        let _ = answer.try_send(self.run_claim(&mut commands, &claim).await);
                        continue_batch(&mut next, out, n, bytes);
                        continue;
                    }
                };
                commands_in += 1;
                continue_batch(&mut next, out, n, bytes);
            }
            queued.fetch_sub(bytes, Ordering::Relaxed);
            crate::runtime::metrics::metrics().cluster_bytes(true, bytes);
            if commands_in > 0 {
                if let Err(e) = pipe.query_async::<()>(&mut commands).await {
                    crate::runtime::metrics::metrics().cluster_dropped(commands_in as u64);
                    return e.to_string();
                }
            }
        }
    }

    /// Renews this node's lease a few times per lease, and watches the other nodes'.
    async fn keep_lease(&self, mut commands: MultiplexedConnection) -> String {
        let every = self.config.lease / 4;
        loop {
            async_io::Timer::after(every).await;
            if let Err(e) = self.renew_lease(&mut commands).await {
                return e;
            }
            let mut nodes: Vec<String> = self.realms.all().flat_map(|r| r.remote_nodes()).collect();
            nodes.sort_unstable();
            nodes.dedup();
            for node in nodes {
                let alive: Result<bool, _> = redis::cmd("EXISTS")
                    .arg(lease_key(&node))
                    .query_async(&mut commands)
                    .await;
                match alive {
                    Ok(true) => {}
                    Ok(false) => {
                        log::warn!("cluster: node `{node}` stopped renewing its lease; its sessions and callees are gone, and calls to them end with wamp.error.canceled");
                        for realm in self.realms.all() {
                            realm.forget_node(&node, true);
                        }
                        let _: Result<i64, _> = self
                            .bury
                            .key(lease_key(&node))
                            .key(state_key(&node))
                            .invoke_async(&mut commands)
                            .await;
                    }
                    Err(e) => return e.to_string(),
                }
            }
        }
    }

    async fn run_claim(
        &self,
        commands: &mut MultiplexedConnection,
        claim: &crate::wamp::cluster::Claim,
    ) -> Result<(), ClaimRefused> {
        let (field, payload) = claim.announcement.clone().unwrap_or_default();
        let answer: Result<String, _> = self
            .claim
            .key(&claim.key)
            .arg(&claim.field)
            .arg(&claim.invoke)
            .arg(format!("{PREFIX}lease:"))
            .arg(state_key(&self.link.node))
            .arg(field)
            .arg(payload)
            .arg(ALL)
            .arg(format!("{PREFIX}state:"))
            .invoke_async(commands)
            .await;
        match answer {
            Ok(text) if text == "ok" => Ok(()),
            Ok(theirs) => Err(ClaimRefused::Taken(theirs)),
            Err(e) => {
                log::warn!("cluster: the claim script failed: {e}");
                Err(ClaimRefused::Unavailable)
            }
        }
    }
}

/// Takes the next item into the batch while it is short enough.
fn continue_batch(
    next: &mut Option<Out>,
    out: &async_std::channel::Receiver<Out>,
    n: usize,
    bytes: usize,
) {
    if n < BATCH && bytes < (1 << 20) {
        *next = out.try_recv().ok();
    }
}

/// Subscribes the listening side to `channel`.
async fn listen(sink: &mut PubSubSink, channel: &Channel) -> redis::RedisResult<()> {
    match channel {
        Channel::Exact(name) => sink.subscribe(name).await,
        Channel::Glob(glob) => sink.psubscribe(glob).await,
    }
}

/// Carries out the router's requests, in order: listening on channels, and claims.
async fn control_loop(engine: Arc<Engine>, control: async_std::channel::Receiver<Control>) {
    while let Ok(request) = control.recv().await {
        let conns = engine.conn.lock().await.clone();
        match request {
            Control::Listen(channel) => {
                if let Some(mut c) = conns {
                    if let Err(e) = listen(&mut c.sink, &channel).await {
                        log::debug!("cluster: cannot listen on `{}`: {e}", channel.name());
                    }
                }
            }
            Control::Unlisten(channel) => {
                if let Some(mut c) = conns {
                    let _ = match &channel {
                        Channel::Exact(name) => c.sink.unsubscribe(name).await,
                        Channel::Glob(glob) => c.sink.punsubscribe(glob).await,
                    };
                }
            }
            Control::Ensure(done) => {
                let _ = done.try_send(());
            }
        }
    }
}

/// Every key matching `pattern` (SCAN, so Redis is not held up by a large key space).
async fn scan(commands: &mut MultiplexedConnection, pattern: &str) -> Result<Vec<String>, String> {
    let mut cursor: u64 = 0;
    let mut keys = Vec::new();
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(commands)
            .await
            .map_err(|e| e.to_string())?;
        keys.extend(batch);
        if next == 0 {
            return Ok(keys);
        }
        cursor = next;
    }
}

/// An auth method or provider named by another node, as this node names it.
fn known_name(name: &str) -> &'static str {
    const NAMES: [&str; 12] = [
        "anonymous",
        "ticket",
        "wampcra",
        "scram",
        "cryptosign",
        "tls",
        "cookie",
        "trusted",
        "static",
        "dynamic",
        "function",
        "cluster",
    ];
    NAMES
        .iter()
        .find(|n| **n == name)
        .copied()
        .unwrap_or("other")
}
