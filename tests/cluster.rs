//! Several nodes serving one realm through Redis (wssnode's `cluster`): each test starts its
//! own `redis-server` on a free port, without persistence, and three nodes with the same
//! config, and spreads its clients across them.

mod common;
use common::*;
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` of the test's own; killed on drop.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    fn start(port: u16) -> Redis {
        Redis::start_with(port, &[])
    }

    /// With more `redis-server` arguments.
    fn start_with(port: u16, extra: &[&str]) -> Redis {
        let port_arg = port.to_string();
        let args: Vec<&str> = ["--port", port_arg.as_str()]
            .into_iter()
            .chain(extra.iter().copied())
            .collect();
        Redis::spawn(port, &args)
    }

    /// Runs `redis-server ARGS` (no persistence, loopback only) and waits until `port`
    /// accepts connections.
    fn spawn(port: u16, args: &[&str]) -> Redis {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is not installed: `apt-get install redis-server` (./test.sh does it as root)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Redis { child, port }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Three nodes (`a`, `b`, `c`) and their Redis.
struct Cluster {
    redis: Redis,
    ca: Ca,
    nodes: Vec<(NodeDir, Node)>,
}

fn roles() -> Value {
    json!([{"name": "anonymous", "permissions": [{"uri": "", "match": "prefix",
        "allow": {"call": true, "register": true, "publish": true, "subscribe": true},
        "disclose": {"caller": false, "publisher": false}}]}])
}

impl Cluster {
    async fn start() -> Cluster {
        Cluster::start_with(&[]).await
    }

    async fn start_with(redis_args: &[&str]) -> Cluster {
        let redis = Redis::start_with(free_port(), redis_args);
        let ca = Ca::new("Test CA");
        let mut nodes = Vec::new();
        for name in ["a", "b", "c"] {
            nodes.push(start_node(&ca, redis.port, name).await);
        }
        Cluster { redis, ca, nodes }
    }

    fn port(&self, i: usize) -> u16 {
        self.nodes[i].1.port
    }

    async fn join(&self, i: usize) -> Wamp {
        Wamp::join(self.port(i), &self.ca.der).await
    }

    fn node(&self, i: usize) -> &Node {
        &self.nodes[i].1
    }
}

/// Starts a node with this `cluster` section and these files in its directory.
fn node_with(ca: &Ca, cluster: Value, files: &[(&str, &str)]) -> (NodeDir, Node) {
    let dir = NodeDir::new();
    dir.server_pair(ca);
    for (name, text) in files {
        dir.write(name, text);
    }
    let port = free_port();
    let mut config = web_config(port, json!({}), json!({}), roles());
    config["workers"][0]["cluster"] = cluster;
    dir.config(&config);
    let node = dir.start(port);
    (dir, node)
}

/// Starts node `name` of the cluster on Redis at port `redis` (lease 1 s) and waits until
/// it has joined.
async fn start_node(ca: &Ca, redis: u16, name: &str) -> (NodeDir, Node) {
    let url = format!("redis://127.0.0.1:{redis}/0");
    let cluster = json!({"type": "redis", "url": url, "node": name, "lease": 1});
    let (dir, node) = node_with(ca, cluster, &[]);
    assert!(
        node.wait_for_log(&format!("node `{name}` joined"), Duration::from_secs(10))
            .await,
        "node {name} did not join the cluster: {}",
        node.log_text()
    );
    (dir, node)
}

async fn subscribe(client: &mut Wamp, request: u64, options: Value, topic: &str) -> u64 {
    client.send(json!([32, request, options, topic])).await;
    let reply = client.recv().await;
    assert_eq!(fields(&reply, 2), [json!(33), json!(request)], "{reply}");
    reply[2].as_u64().unwrap()
}

async fn register(client: &mut Wamp, request: u64, options: Value, procedure: &str) -> u64 {
    client.send(json!([64, request, options, procedure])).await;
    let reply = client.recv().await;
    assert_eq!(fields(&reply, 2), [json!(65), json!(request)], "{reply}");
    reply[2].as_u64().unwrap()
}

/// Calls once: a node that knows no callee for a procedure first reads what Redis has for
/// it, so a registration whose REGISTERED was heard is found.
async fn call(caller: &mut Wamp, request: u64, procedure: &str, args: Value) -> Value {
    caller.send(json!([48, request, {}, procedure, args])).await;
    caller.recv().await
}

/// Calls a meta procedure until `done` holds for its first result (at most 5 s).
async fn meta_until(
    client: &mut Wamp,
    procedure: &str,
    args: Value,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut request = 1000;
    loop {
        request += 1;
        client.send(json!([48, request, {}, procedure, args])).await;
        let reply = client.recv().await;
        let value = reply[3][0].clone();
        if done(&value) || Instant::now() > deadline {
            return value;
        }
        async_std::task::sleep(Duration::from_millis(50)).await;
    }
}

#[async_std::test]
async fn an_event_reaches_every_matching_subscriber_on_every_node_once_and_in_order() {
    let cluster = Cluster::start().await;
    let mut publisher = cluster.join(0).await;
    let mut exact_b = cluster.join(1).await;
    let mut exact_c = cluster.join(2).await;
    let mut patterns_c = cluster.join(2).await;
    let exact = subscribe(&mut exact_b, 1, json!({}), "com.app.tick").await;
    assert_eq!(
        subscribe(&mut exact_c, 1, json!({}), "com.app.tick").await,
        exact,
        "the same ID on every node"
    );
    let prefix = subscribe(&mut patterns_c, 1, json!({"match": "prefix"}), "com.app").await;
    let wildcard = subscribe(
        &mut patterns_c,
        2,
        json!({"match": "wildcard"}),
        "com..tick",
    )
    .await;

    for n in 0..20 {
        publisher
            .send(json!([16, 100 + n, {"acknowledge": true}, "com.app.tick", [n]]))
            .await;
        assert_eq!(publisher.recv().await[0], 17);
    }
    for subscriber in [&mut exact_b, &mut exact_c] {
        for n in 0..20 {
            let event = subscriber.recv().await;
            assert_eq!(fields(&event, 2), [json!(36), json!(exact)]);
            assert_eq!(event[4], json!([n]), "in the publisher's order");
        }
        subscriber.silent(200).await;
    }
    // One event per matching subscription, each with the topic it was published to.
    let mut seen = Vec::new();
    for _ in 0..40 {
        let event = patterns_c.recv().await;
        assert_eq!(event[3]["topic"], "com.app.tick");
        seen.push((event[1].as_u64().unwrap(), event[4][0].as_u64().unwrap()));
    }
    patterns_c.silent(200).await;
    for sub in [prefix, wildcard] {
        let got: Vec<u64> = seen
            .iter()
            .filter(|(s, _)| *s == sub)
            .map(|(_, n)| *n)
            .collect();
        assert_eq!(got, (0..20).collect::<Vec<_>>());
    }
}

#[async_std::test]
async fn publication_options_hold_across_nodes() {
    let cluster = Cluster::start().await;
    let mut publisher = cluster.join(0).await;
    let mut same_node = cluster.join(0).await;
    let mut b = cluster.join(1).await;
    let mut c = cluster.join(2).await;
    for (i, client) in [&mut publisher, &mut same_node, &mut b, &mut c]
        .into_iter()
        .enumerate()
    {
        subscribe(client, 1, json!({}), "com.opts").await;
        let _ = i;
    }
    // Exclusion: the publisher is excluded by default; `exclude` names a session on c.
    publisher
        .send(json!([16, 1, {"exclude": [c.session]}, "com.opts", ["one"]]))
        .await;
    assert_eq!(same_node.recv().await[4], json!(["one"]));
    assert_eq!(b.recv().await[4], json!(["one"]));
    c.silent(200).await;
    publisher.silent(100).await;
    // Whitelist: only b; the publisher asks to be disclosed.
    publisher
        .send(json!([16, 2, {"eligible": [b.session], "disclose_me": true}, "com.opts", ["two"]]))
        .await;
    let event = b.recv().await;
    assert_eq!(event[4], json!(["two"]));
    assert_eq!(event[3]["publisher"], json!(publisher.session));
    c.silent(200).await;
    same_node.silent(100).await;
    // Not excluding itself, the publisher gets its own event once.
    publisher
        .send(json!([16, 3, {"exclude_me": false}, "com.opts", ["three"]]))
        .await;
    for client in [&mut publisher, &mut same_node, &mut b, &mut c] {
        assert_eq!(client.recv().await[4], json!(["three"]));
        client.silent(150).await;
    }
}

#[async_std::test]
async fn a_procedure_registered_on_one_node_is_called_from_another() {
    let cluster = Cluster::start().await;
    let mut callee = cluster.join(1).await;
    let mut caller = cluster.join(0).await;
    let reg = register(&mut callee, 1, json!({}), "com.math.add").await;

    let (answer, invocation) =
        futures_util::join!(call(&mut caller, 7, "com.math.add", json!([2, 3])), async {
            let inv = callee.recv().await;
            assert_eq!(fields(&inv, 3), [json!(68), inv[1].clone(), json!(reg)]);
            callee
                .send(json!([
                    70,
                    inv[1],
                    {},
                    [inv[4][0].as_i64().unwrap() + inv[4][1].as_i64().unwrap()]
                ]))
                .await;
            inv
        });
    assert_eq!(invocation[4], json!([2, 3]));
    assert_eq!(answer, json!([50, 7, {}, [5]]));

    // An application error keeps its URI, args and kwargs.
    caller.send(json!([48, 8, {}, "com.math.add", [1]])).await;
    let inv = callee.recv().await;
    callee
        .send(json!([8, 68, inv[1], {}, "com.math.error.arity", ["two needed"], {"got": 1}]))
        .await;
    assert_eq!(
        caller.recv().await,
        json!([8, 48, 8, {}, "com.math.error.arity", ["two needed"], {"got": 1}])
    );

    // Progressive results reach a caller that asked for them.
    caller
        .send(json!([48, 9, {"receive_progress": true}, "com.math.add", []]))
        .await;
    let inv = callee.recv().await;
    assert_eq!(inv[3]["receive_progress"], true);
    callee
        .send(json!([70, inv[1], {"progress": true}, ["half"]]))
        .await;
    callee.send(json!([70, inv[1], {}, ["done"]])).await;
    assert_eq!(
        caller.recv().await,
        json!([50, 9, {"progress": true}, ["half"]])
    );
    assert_eq!(caller.recv().await, json!([50, 9, {}, ["done"]]));

    // Cancel: the callee is interrupted, the caller hears at once.
    caller.send(json!([48, 10, {}, "com.math.add", []])).await;
    let inv = callee.recv().await;
    caller.send(json!([49, 10, {"mode": "killnowait"}])).await;
    let canceled = caller.recv().await;
    assert_eq!(
        fields(&canceled, 5),
        [
            json!(8),
            json!(48),
            json!(10),
            json!({}),
            json!("wamp.error.canceled")
        ]
    );
    let interrupt = callee.recv().await;
    assert_eq!(fields(&interrupt, 2), [json!(69), inv[1].clone()]);

    // A call timeout is the caller's node's to keep.
    caller
        .send(json!([48, 11, {"timeout": 300}, "com.math.add", []]))
        .await;
    let inv = callee.recv().await;
    let timed_out = caller.recv().await;
    assert_eq!(
        fields(&timed_out, 5),
        [
            json!(8),
            json!(48),
            json!(11),
            json!({}),
            json!("wamp.error.canceled")
        ]
    );
    assert_eq!(fields(&callee.recv().await, 2), [json!(69), inv[1].clone()]);

    // Cancel `kill`: the callee is interrupted and its answer reaches the caller.
    caller.send(json!([48, 12, {}, "com.math.add", []])).await;
    let inv = callee.recv().await;
    caller.send(json!([49, 12, {"mode": "kill"}])).await;
    let interrupt = callee.recv().await;
    assert_eq!(
        fields(&interrupt, 3),
        [json!(69), inv[1].clone(), json!({"mode": "kill"})]
    );
    callee
        .send(json!([
            8,
            68,
            inv[1],
            {},
            "wamp.error.canceled",
            ["stopped"]
        ]))
        .await;
    assert_eq!(
        caller.recv().await,
        json!([8, 48, 12, {}, "wamp.error.canceled", ["stopped"]])
    );

    // Cancel `skip`: the caller hears at once, the callee is not told; its late answer
    // is dropped.
    caller.send(json!([48, 13, {}, "com.math.add", []])).await;
    let inv = callee.recv().await;
    caller.send(json!([49, 13, {"mode": "skip"}])).await;
    assert_eq!(caller.recv().await[4], "wamp.error.canceled");
    callee.silent(200).await;
    callee.send(json!([70, inv[1], {}, ["late"]])).await;
    caller.silent(300).await;
}

#[async_std::test]
async fn a_single_registration_is_exclusive_and_a_shared_one_balances_across_nodes() {
    let cluster = Cluster::start().await;
    let mut b = cluster.join(1).await;
    let mut c = cluster.join(2).await;
    register(&mut b, 1, json!({}), "com.only").await;
    c.send(json!([64, 1, {}, "com.only"])).await;
    let refused = c.recv().await;
    assert_eq!(
        fields(&refused, 5),
        [
            json!(8),
            json!(64),
            json!(1),
            json!({}),
            json!("wamp.error.procedure_already_exists")
        ]
    );
    // Shared with another policy is refused too.
    c.send(json!([64, 2, {"invoke": "roundrobin"}, "com.only"]))
        .await;
    assert_eq!(c.recv().await[4], "wamp.error.procedure_already_exists");

    let rr_b = register(&mut b, 3, json!({"invoke": "roundrobin"}), "com.shared").await;
    let rr_c = register(&mut c, 3, json!({"invoke": "roundrobin"}), "com.shared").await;
    assert_eq!(
        rr_b, rr_c,
        "the same registration, with the same ID on every node"
    );
    let mut caller = cluster.join(0).await;
    meta_until(
        &mut caller,
        "wamp.registration.count_callees",
        json!([rr_b]),
        |v| v == &json!(2),
    )
    .await;
    let (mut on_b, mut on_c) = (0, 0);
    for n in 0..6 {
        caller
            .send(json!([48, 100 + n, {}, "com.shared", []]))
            .await;
        let inv =
            futures_lite::future::or(async { (b.next_or_none().await.unwrap(), 'b') }, async {
                (c.next_or_none().await.unwrap(), 'c')
            })
            .await;
        let callee = if inv.1 == 'b' {
            on_b += 1;
            &mut b
        } else {
            on_c += 1;
            &mut c
        };
        callee
            .send(json!([70, inv.0[1], {}, [inv.1.to_string()]]))
            .await;
        assert_eq!(caller.recv().await[0], 50);
    }
    assert_eq!(
        (on_b, on_c),
        (3, 3),
        "round robin over callees on two nodes"
    );
}

#[async_std::test]
async fn the_meta_api_answers_for_the_whole_cluster() {
    let cluster = Cluster::start().await;
    let mut watcher = cluster.join(0).await;
    subscribe(&mut watcher, 1, json!({}), "wamp.session.on_join").await;
    let b = cluster.join(1).await;
    let joined = watcher.recv().await;
    assert_eq!(
        joined[4][0]["session"],
        json!(b.session),
        "on_join from another node"
    );
    let c = cluster.join(2).await;
    let _ = watcher.recv().await;
    let count = meta_until(&mut watcher, "wamp.session.count", json!([]), |v| {
        v == &json!(3)
    })
    .await;
    assert_eq!(count, 3);
    let list = meta_until(&mut watcher, "wamp.session.list", json!([]), |_| true).await;
    assert!(list.as_array().unwrap().contains(&json!(b.session)));
    watcher
        .send(json!([48, 5, {}, "wamp.session.get", [b.session]]))
        .await;
    let got = watcher.recv().await;
    assert_eq!(got[0], 50, "{got}");
    assert_eq!(got[3][0]["authrole"], "anonymous");

    let mut callee = b;
    let reg = register(&mut callee, 1, json!({}), "com.meta.echo").await;
    let found = meta_until(
        &mut watcher,
        "wamp.registration.lookup",
        json!(["com.meta.echo"]),
        |v| !v.is_null(),
    )
    .await;
    assert_eq!(found, json!(reg));
    let callees = meta_until(
        &mut watcher,
        "wamp.registration.list_callees",
        json!([reg]),
        |_| true,
    )
    .await;
    assert_eq!(callees, json!([callee.session]));

    // Subscriptions held on b and c answer on a, under the ID each node gives them.
    let mut on_c = c;
    let sub = subscribe(&mut on_c, 2, json!({"match": "prefix"}), "com.meta").await;
    assert_eq!(
        subscribe(&mut callee, 2, json!({"match": "prefix"}), "com.meta").await,
        sub
    );
    let args = json!(["com.meta", {"match": "prefix"}]);
    let found = meta_until(&mut watcher, "wamp.subscription.lookup", args, |v| {
        !v.is_null()
    })
    .await;
    assert_eq!(found, json!(sub));
    let two = |v: &Value| v == &json!(2);
    let count = meta_until(
        &mut watcher,
        "wamp.subscription.count_subscribers",
        json!([sub]),
        two,
    )
    .await;
    assert_eq!(count, 2);
    let args = json!(["com.meta.x"]);
    let matched = meta_until(&mut watcher, "wamp.subscription.match", args, |v| {
        !v.is_null()
    })
    .await;
    assert_eq!(matched, json!([sub]));
    watcher
        .send(json!([48, 6, {}, "wamp.subscription.get", [sub]]))
        .await;
    let got = watcher.recv().await;
    assert_eq!(got[3][0]["uri"], "com.meta", "{got}");
    assert_eq!(got[3][0]["match"], "prefix", "{got}");
    // A session on another node is killed through the meta API of this one.
    watcher.send(json!([48, 7, {}, "wamp.session.kill", [callee.session], {"reason": "wamp.close.killed"}])).await;
    assert_eq!(watcher.recv().await, json!([50, 7, {}, [null]]));
    let goodbye = callee.recv().await;
    assert_eq!(
        fields(&goodbye, 3),
        [json!(6), json!({}), json!("wamp.close.killed")]
    );
    // A subscriber that leaves (the killed one) is gone from the count on every node,
    // and the subscription with the last one.
    let one = |v: &Value| v == &json!(1);
    let count = meta_until(
        &mut watcher,
        "wamp.subscription.count_subscribers",
        json!([sub]),
        one,
    )
    .await;
    assert_eq!(count, 1);
    drop(on_c);
    let args = json!(["com.meta", {"match": "prefix"}]);
    let gone = meta_until(
        &mut watcher,
        "wamp.subscription.lookup",
        args,
        Value::is_null,
    )
    .await;
    assert_eq!(gone, Value::Null);
}

#[async_std::test]
async fn a_killed_node_s_callees_and_sessions_go_within_its_lease() {
    let mut cluster = Cluster::start().await;
    let mut callee = cluster.join(2).await;
    let mut caller = cluster.join(0).await;
    let mut other = cluster.join(1).await;
    register(&mut callee, 1, json!({}), "com.slow").await;
    caller.send(json!([48, 1, {}, "com.slow", []])).await;
    // The call reaches the callee; then its node is killed outright.
    assert_eq!(callee.recv().await[0], 68);
    let killed_at = Instant::now();
    let (_dir, mut node_c) = cluster.nodes.pop().unwrap();
    node_c.signal("KILL");
    let _ = node_c.child.wait();

    let answer = async_std::future::timeout(Duration::from_secs(10), caller.next_or_none())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        fields(&answer, 5),
        [
            json!(8),
            json!(48),
            json!(1),
            json!({}),
            json!("wamp.error.canceled")
        ]
    );
    assert!(
        killed_at.elapsed() < Duration::from_secs(5),
        "within the 1 s lease and its check"
    );
    for i in 0..2 {
        let noticed = cluster.node(i).wait_for_log(
            "node `c` stopped renewing its lease",
            Duration::from_secs(5),
        );
        assert!(noticed.await);
    }

    // Its registration is gone everywhere, and a `single` one may be made elsewhere.
    caller.send(json!([48, 2, {}, "com.slow", []])).await;
    assert_eq!(caller.recv().await[4], "wamp.error.no_such_procedure");
    register(&mut other, 1, json!({}), "com.slow").await;
    let count = meta_until(&mut caller, "wamp.session.count", json!([]), |v| {
        v == &json!(2)
    })
    .await;
    assert_eq!(count, 2, "its sessions left the meta API");
    // The others kept serving throughout.
    let sub = subscribe(&mut other, 2, json!({}), "com.still").await;
    caller.send(json!([16, 3, {}, "com.still", [1]])).await;
    assert_eq!(fields(&other.recv().await, 2), [json!(36), json!(sub)]);
}

#[async_std::test]
async fn while_redis_is_away_nodes_serve_their_own_sessions_and_then_become_one_again() {
    let mut cluster = Cluster::start().await;
    let mut sub_a = cluster.join(0).await;
    let mut sub_b = cluster.join(1).await;
    let mut publisher = cluster.join(0).await;
    let mut local_callee = cluster.join(0).await;
    subscribe(&mut sub_a, 1, json!({}), "com.outage").await;
    subscribe(&mut sub_b, 1, json!({}), "com.outage").await;
    register(&mut local_callee, 1, json!({}), "com.local").await;
    publisher.send(json!([48, 1, {}, "com.local", []])).await;
    let inv = local_callee.recv().await;
    local_callee.send(json!([70, inv[1], {}, ["here"]])).await;
    assert_eq!(publisher.recv().await, json!([50, 1, {}, ["here"]]));

    cluster.redis.stop();
    for i in 0..3 {
        assert!(
            cluster
                .node(i)
                .wait_for_log("cannot reach Redis", Duration::from_secs(5))
                .await
        );
    }
    // Local pub/sub and calls go on; events for the other node are dropped, not held.
    for n in 0..50 {
        publisher
            .send(json!([16, n + 1, {}, "com.outage", [n]]))
            .await;
    }
    for n in 0..50 {
        assert_eq!(sub_a.recv().await[4], json!([n]));
    }
    publisher.send(json!([48, 1, {}, "com.local", []])).await;
    let inv = local_callee.recv().await;
    local_callee.send(json!([70, inv[1], {}, ["here"]])).await;
    assert_eq!(publisher.recv().await, json!([50, 1, {}, ["here"]]));
    // A registration that needs the cluster is refused, saying why.
    sub_b.send(json!([64, 9, {}, "com.during"])).await;
    let refused = sub_b.recv().await;
    assert_eq!(refused[4], "wssnode.error.cluster_unavailable", "{refused}");
    sub_b.silent(300).await;
    let log = cluster.node(0).log_text();
    assert_eq!(
        log.matches("cannot reach Redis").count(),
        1,
        "the outage is logged once: {log}"
    );
    assert_eq!(log.matches("dropping messages for other nodes").count(), 1);

    // Redis comes back (empty, as after a restart): the cluster is whole again.
    cluster.redis = Redis::start(cluster.redis.port);
    for i in 0..3 {
        assert!(
            cluster
                .node(i)
                .wait_for_log("is back after", Duration::from_secs(15))
                .await,
            "{}",
            cluster.node(i).log_text()
        );
    }
    publisher
        .send(json!([16, 100, {}, "com.outage", ["again"]]))
        .await;
    assert_eq!(sub_a.recv().await[4], json!(["again"]));
    assert_eq!(
        sub_b.recv().await[4],
        json!(["again"]),
        "node b's subscription was announced again"
    );
    let mut remote_caller = cluster.join(2).await;
    let answer = async {
        let inv = local_callee.recv().await;
        local_callee.send(json!([70, inv[1], {}, ["back"]])).await;
    };
    let (reply, ()) =
        futures_util::join!(call(&mut remote_caller, 1, "com.local", json!([])), answer);
    assert_eq!(reply, json!([50, 1, {}, ["back"]]));
    // And the `single` registration is again exclusive.
    sub_b.send(json!([64, 10, {}, "com.local"])).await;
    assert_eq!(sub_b.recv().await[4], "wamp.error.procedure_already_exists");
}

#[async_std::test]
async fn check_reads_the_cluster_section() {
    let dir = NodeDir::new();
    let ca = Ca::new("Test CA");
    dir.server_pair(&ca);
    let port = free_port();
    let mut config = web_config(port, json!({}), json!({}), roles());
    let mut with = |cluster: Value| {
        config["workers"][0]["cluster"] = cluster;
        dir.config(&config);
        let (status, out, _) = dir.run(&["check"]);
        (status, out)
    };
    let (status, out) = with(json!({"type": "redis", "url": "redis://:secret@127.0.0.1:6379/0"}));
    assert_ne!(status, Some(0));
    assert!(
        out.contains("workers[0].cluster.url") && out.contains("password"),
        "{out}"
    );
    let (status, out) = with(json!({"type": "nats", "url": "nats://x"}));
    assert_ne!(status, Some(0));
    assert!(out.contains("workers[0].cluster.type"), "{out}");
    let (status, out) =
        with(json!({"type": "redis", "url": "redis://127.0.0.1:6379/0", "lease": 30}));
    assert_ne!(status, Some(0));
    assert!(out.contains("workers[0].cluster.lease"), "{out}");
    let (status, out) = with(
        json!({"type": "redis", "url": "redis://127.0.0.1:6379/0", "password_env": "WSSNODE_TEST_UNSET_PASSWORD"}),
    );
    assert_ne!(status, Some(0));
    assert!(out.contains("WSSNODE_TEST_UNSET_PASSWORD"), "{out}");
    let (status, out) = with(
        json!({"type": "redis", "url": "rediss://127.0.0.1:6380/0", "node": "n1", "lease": 3}),
    );
    assert_eq!(status, Some(0), "{out}");
    let url = "redis://127.0.0.1:6379/0";
    let (status, out) = with(json!({"type": "redis", "url": url, "ca_certificate": "ca.pem"}));
    assert_ne!(status, Some(0));
    assert!(
        out.contains("workers[0].cluster.ca_certificate") && out.contains("rediss://"),
        "{out}"
    );
    let url = "rediss://127.0.0.1:6380/0";
    let (status, out) = with(json!({"type": "redis", "url": url, "ca_certificate": "missing.pem"}));
    assert_ne!(status, Some(0));
    assert!(out.contains("missing.pem"), "{out}");
}

#[async_std::test]
async fn a_stalled_node_is_cut_off_by_redis_without_slowing_the_others_and_comes_back() {
    // Redis drops a subscriber that lets 1 MiB of events pile up (its default is 32 MiB).
    let cluster =
        Cluster::start_with(&["--client-output-buffer-limit", "pubsub 1mb 256kb 1"]).await;
    let mut publisher = cluster.join(0).await;
    let mut on_b = cluster.join(1).await;
    let mut on_c = cluster.join(2).await;
    subscribe(&mut on_b, 1, json!({}), "com.flood").await;
    subscribe(&mut on_c, 1, json!({}), "com.flood").await;

    cluster.node(2).signal("STOP");
    let padding = "x".repeat(1000);
    let total = 8000;
    for n in 0..total {
        publisher
            .send(json!([16, n + 1, {}, "com.flood", [n, padding]]))
            .await;
    }
    // Node b gets every event, in order, while node c sleeps.
    for n in 0..total {
        let event = on_b.recv().await;
        assert_eq!(event[4][0], json!(n));
    }
    for i in 0..2 {
        let noticed = cluster.node(i).wait_for_log(
            "node `c` stopped renewing its lease",
            Duration::from_secs(5),
        );
        assert!(noticed.await, "{}", cluster.node(i).log_text());
    }

    cluster.node(2).signal("CONT");
    assert!(
        cluster
            .node(2)
            .wait_for_log("is back after", Duration::from_secs(15))
            .await,
        "{}",
        cluster.node(2).log_text()
    );
    // What reached c before Redis cut it off may still arrive; then the new event.
    publisher
        .send(json!([16, 99_999, {}, "com.flood", ["after"]]))
        .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let event = on_c.recv().await;
        if event[4] == json!(["after"]) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "node c never got the event after it came back"
        );
    }
    assert_eq!(on_b.recv().await[4], json!(["after"]));
}

#[async_std::test]
async fn past_256_patterns_a_node_listens_to_every_event_and_still_delivers_each_once() {
    let cluster = Cluster::start().await;
    let mut publisher = cluster.join(0).await;
    let mut many = cluster.join(1).await;
    let mut first = 0;
    for i in 0..300u64 {
        let sub = subscribe(
            &mut many,
            i + 1,
            json!({"match": "prefix"}),
            &format!("com.many.p{i}."),
        )
        .await;
        if i == 7 {
            first = sub;
        }
    }
    let exact = subscribe(&mut many, 1000, json!({}), "com.many.p7.x").await;
    assert!(
        cluster
            .node(1)
            .wait_for_log("listens to every event", Duration::from_secs(5))
            .await
    );
    publisher
        .send(json!([16, 1, {"acknowledge": true}, "com.many.p7.x", ["hi"]]))
        .await;
    assert_eq!(publisher.recv().await[0], 17);
    let mut got = vec![
        many.recv().await[1].as_u64().unwrap(),
        many.recv().await[1].as_u64().unwrap(),
    ];
    got.sort_unstable();
    let mut want = vec![first, exact];
    want.sort_unstable();
    assert_eq!(
        got, want,
        "once for the prefix and once for the exact subscription"
    );
    many.silent(300).await;
}

#[async_std::test]
async fn a_call_made_once_registered_is_heard_finds_the_callee_on_another_node() {
    let cluster = Cluster::start().await;
    let mut callee = cluster.join(1).await;
    let mut caller = cluster.join(0).await;
    for i in 0..50u64 {
        let procedure = format!("com.fresh.p{i}");
        register(&mut callee, i + 1, json!({}), &procedure).await;
        caller.send(json!([48, i + 1, {}, procedure, []])).await;
        let invocation = callee.recv().await;
        assert_eq!(
            invocation[0], 68,
            "call {i} did not reach the callee: {invocation}"
        );
        callee.send(json!([70, invocation[1], {}])).await;
        assert_eq!(caller.recv().await, json!([50, i + 1, {}]));
    }
    // A procedure no one registered is still refused.
    caller.send(json!([48, 99, {}, "com.fresh.none", []])).await;
    assert_eq!(caller.recv().await[4], "wamp.error.no_such_procedure");
}

#[async_std::test]
async fn a_node_restarted_under_its_name_gives_up_what_its_last_run_held_at_once() {
    let mut cluster = Cluster::start().await;
    let mut callee = cluster.join(2).await;
    let mut other = cluster.join(1).await;
    register(&mut callee, 1, json!({}), "com.reborn").await;
    // Killed and started again at once, well inside the lease of its last run.
    let (dir, mut node_c) = cluster.nodes.pop().unwrap();
    node_c.signal("KILL");
    let _ = node_c.child.wait();
    let port = node_c.port;
    drop(node_c);
    let node_c = dir.start(port);
    assert!(
        node_c
            .wait_for_log("node `c` joined", Duration::from_secs(10))
            .await
    );
    // Its hello made the others forget its last run, and the claim of that run is stale:
    // the `single` procedure is free without waiting for a lease to lapse.
    register(&mut other, 1, json!({}), "com.reborn").await;
    let mut caller = cluster.join(0).await;
    caller
        .send(json!([48, 1, {}, "wamp.session.count", []]))
        .await;
    assert_eq!(
        caller.recv().await[3],
        json!([2]),
        "the last run's session is gone"
    );
    let _ = callee.next_or_none().await;
}

#[async_std::test]
async fn the_password_comes_from_the_environment() {
    let redis = Redis::start_with(free_port(), &["--requirepass", "not-in-the-config"]);
    // A name of this test's own: the nodes inherit the test process's environment.
    std::env::set_var("WSSNODE_TEST_CLUSTER_PASSWORD", "not-in-the-config");
    let ca = Ca::new("Test CA");
    let start = |name: &str, password_env: Option<&str>| {
        let url = format!("redis://127.0.0.1:{}/0", redis.port);
        let mut cluster = json!({"type": "redis", "url": url, "node": name});
        if let Some(var) = password_env {
            cluster["password_env"] = json!(var);
        }
        node_with(&ca, cluster, &[])
    };
    let (_with_dir, with) = start("with", Some("WSSNODE_TEST_CLUSTER_PASSWORD"));
    assert!(
        with.wait_for_log("node `with` joined", Duration::from_secs(10))
            .await,
        "{}",
        with.log_text()
    );
    let (_without_dir, without) = start("without", None);
    assert!(
        without
            .wait_for_log("cannot reach Redis", Duration::from_secs(10))
            .await
    );
    assert!(
        !without.log_text().contains("joined through Redis"),
        "{}",
        without.log_text()
    );
}

#[async_std::test]
async fn first_and_last_pick_across_nodes_in_the_order_the_callees_came() {
    let cluster = Cluster::start().await;
    let mut b = cluster.join(1).await;
    let mut c = cluster.join(2).await;
    let mut caller = cluster.join(0).await;
    for (invoke, expected) in [("first", 'b'), ("last", 'c')] {
        let procedure = format!("com.order.{invoke}");
        let reg = register(&mut b, 1, json!({"invoke": invoke}), &procedure).await;
        register(&mut c, 1, json!({"invoke": invoke}), &procedure).await;
        let two = |v: &Value| v == &json!(2);
        meta_until(
            &mut caller,
            "wamp.registration.count_callees",
            json!([reg]),
            two,
        )
        .await;
        for n in 0..3 {
            caller.send(json!([48, n + 1, {}, procedure, []])).await;
            let (inv, at) =
                futures_lite::future::or(async { (b.next_or_none().await.unwrap(), 'b') }, async {
                    (c.next_or_none().await.unwrap(), 'c')
                })
                .await;
            assert_eq!(at, expected, "invoke {invoke}");
            let callee = if at == 'b' { &mut b } else { &mut c };
            callee.send(json!([70, inv[1], {}])).await;
            assert_eq!(caller.recv().await[0], 50);
        }
    }
}

#[async_std::test]
async fn rediss_checks_the_server_against_the_ca_certificate_the_config_names() {
    // A Redis that speaks TLS only, with a certificate of the test's own CA.
    let redis_ca = Ca::new("Redis CA");
    let pair = redis_ca.server(&rcgen::PKCS_ECDSA_P256_SHA256);
    let files = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = files.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    };
    let (cert, key) = (
        write("cert.pem", &pair.cert_pem),
        write("key.pem", &pair.key_pem),
    );
    let ca_file = write("ca.pem", &redis_ca.cert_pem);
    let port = free_port();
    let tls_args = [
        "--port",
        "0",
        "--tls-port",
        &port.to_string(),
        "--tls-cert-file",
        &cert,
        "--tls-key-file",
        &key,
        "--tls-ca-cert-file",
        &ca_file,
        "--tls-auth-clients",
        "no",
    ];
    // Its only port is the TLS one.
    let _redis = Redis::spawn(port, &tls_args);
    let ca = Ca::new("Test CA");
    let start = |name: &str, ca_certificate: Option<&str>| {
        let url = format!("rediss://127.0.0.1:{port}/0");
        let mut cluster = json!({"type": "redis", "url": url, "node": name});
        if let Some(file) = ca_certificate {
            cluster["ca_certificate"] = json!(file);
        }
        node_with(&ca, cluster, &[("redis-ca.pem", &redis_ca.cert_pem)])
    };
    let (_a_dir, a) = start("a", Some("redis-ca.pem"));
    assert!(
        a.wait_for_log("node `a` joined", Duration::from_secs(10))
            .await,
        "{}",
        a.log_text()
    );
    let (_b_dir, b) = start("b", Some("redis-ca.pem"));
    assert!(
        b.wait_for_log("node `b` joined", Duration::from_secs(10))
            .await,
        "{}",
        b.log_text()
    );
    // Events cross nodes over TLS.
    let mut subscriber = Wamp::join(b.port, &ca.der).await;
    subscribe(&mut subscriber, 1, json!({}), "com.tls").await;
    let mut publisher = Wamp::join(a.port, &ca.der).await;
    publisher
        .send(json!([16, 1, {}, "com.tls", ["over rediss"]]))
        .await;
    assert_eq!(subscriber.recv().await[4], json!(["over rediss"]));
    // Trusting the system's roots only, a node does not accept this Redis's certificate.
    let (_c_dir, c) = start("c", None);
    assert!(
        c.wait_for_log("cannot reach Redis", Duration::from_secs(10))
            .await
    );
    assert!(
        !c.log_text().contains("joined through Redis"),
        "{}",
        c.log_text()
    );
}

#[async_std::test]
async fn messages_in_redis_that_are_not_a_node_s_are_ignored() {
    let cluster = Cluster::start().await;
    let mut subscriber = cluster.join(1).await;
    subscribe(&mut subscriber, 1, json!({}), "com.still").await;
    // Anyone with access to Redis could publish on wssnode's channels: garbage, JSON of
    // the wrong shape, a call for a session that is not there, a kill of the router's own.
    let garbage = [
        ("wssnode:all", "not json".to_string()),
        ("wssnode:all", r#"{"k":"join","node":"x"}"#.to_string()),
        ("wssnode:node:b", r#"{"k":"direct","node":"x","realm":"realm1","session":1,"message":[68]}"#.to_string()),
        ("wssnode:node:b", r#"{"k":"direct","node":"x","realm":"realm1","session":1,"message":{"a":1}}"#.to_string()),
        ("wssnode:node:b", r#"{"k":"direct","node":"x","realm":"nope","session":1,"message":[6,{},"x"]}"#.to_string()),
        ("wssnode:ev:6:realm1:com.still", r#"{"k":"event","n":"x","r":"realm1","t":"com.still","p":1,"au":{"exclude":"nonsense"}}"#.to_string()),
    ];
    let mut redis = std::net::TcpStream::connect(("127.0.0.1", cluster.redis.port)).unwrap();
    for (channel, payload) in garbage {
        let command = format!(
            "*3\r\n$7\r\nPUBLISH\r\n${}\r\n{channel}\r\n${}\r\n{payload}\r\n",
            channel.len(),
            payload.len()
        );
        std::io::Write::write_all(&mut redis, command.as_bytes()).unwrap();
    }
    // The event with lists that cannot be read reached nobody; the nodes go on.
    subscriber.silent(300).await;
    let mut publisher = cluster.join(0).await;
    publisher
        .send(json!([16, 1, {}, "com.still", ["fine"]]))
        .await;
    assert_eq!(subscriber.recv().await[4], json!(["fine"]));
}
