//! A node from its directory: all fallible start-up work in one place (`prepare`: config,
//! TLS files, static folders, realms), then binding and serving every transport (`serve`).
//! `wssnode check` is `prepare` without serving.

pub mod logging;

use crate::config::error::StartError;
use crate::config::{self, NodeConfig, TlsFiles, Transport, TransportKind};
use crate::http::listener;
use crate::http::site::{self, Service, Site};
use crate::runtime::lifecycle::Lifecycle;
use crate::tls::selfsigned::{self, Presence};
use crate::tls::{self, TlsSetup};
use crate::transport::rawsocket::RawSocketService;
use crate::wamp::Realms;
use std::path::Path;
use std::sync::Arc;

/// Whether `prepare` may write files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Serving: a `tls` whose key and certificate are both missing gets a self-signed pair.
    Serve,
    /// Checking: nothing is written.
    Check,
}

/// A transport ready to bind.
pub struct ReadyTransport {
    /// Its config.
    pub transport: Transport,
    /// Its TLS, if any.
    pub tls: Option<TlsSetup>,
    /// Its paths, ready to answer.
    pub services: Vec<(String, Service)>,
    /// The realms of its router worker.
    pub realms: Arc<Realms>,
}

/// A node that passed every start-up check.
pub struct ReadyNode {
    /// The config it came from.
    pub config: NodeConfig,
    /// Its transports.
    pub transports: Vec<ReadyTransport>,
    /// Everything worth a warning, one sentence each.
    pub warnings: Vec<String>,
    /// Each router worker's realms, in config order (for SIGHUP's new roles).
    pub routers: Vec<Arc<Realms>>,
    /// The router worker in a cluster, if one is: what its engine needs to start.
    cluster: Option<ClusterSetup>,
}

/// A cluster's engine, ready to start when the node serves.
struct ClusterSetup {
    config: crate::config::Cluster,
    client: redis::Client,
    link: Arc<crate::wamp::cluster::Link>,
    queues: crate::wamp::cluster::LinkQueues,
    realms: Arc<Realms>,
}

/// Reads and checks everything the node directory's config names.
pub fn prepare(dir: &Path, mode: Mode) -> Result<ReadyNode, StartError> {
    let config = config::load(dir)?;
    if mode == Mode::Serve {
        crate::wamp::auth::decoy::keep_secret_in(dir);
    }
    let mut warnings = config.warnings.clone();
    let mut transports = Vec::new();
    let mut routers = Vec::new();
    let mut cluster = None;
    for (i, router) in config.routers.iter().enumerate() {
        let link = match &router.cluster {
            Some(c) => {
                let client = crate::cluster::client(c).map_err(|e| match e {
                    StartError::Usage(problem) => StartError::Key {
                        file: config.file.clone(),
                        json_path: format!("workers[{i}].cluster.url"),
                        problem,
                    },
                    other => other,
                })?;
                let (link, queues) = crate::wamp::cluster::Link::new(&c.node, c.max_queued_bytes);
                Some((c.clone(), client, link, queues))
            }
            None => None,
        };
        let realms = Arc::new(Realms::new(
            &router.realms,
            link.as_ref().map(|(_, _, link, _)| link.clone()),
        ));
        if let Some((config, client, link, queues)) = link {
            cluster = Some(ClusterSetup {
                config,
                client,
                link,
                queues,
                realms: realms.clone(),
            });
        }
        routers.push(realms.clone());
        for transport in &router.transports {
            let tls = match &transport.endpoint.tls {
                None => None,
                Some(files) if files.acme.is_some() => {
                    // The certificate comes from the ACME client (in its cache after the
                    // first run); nothing to generate or check on disk.
                    let setup = tls::setup(files)?;
                    warnings.extend(setup.warnings.iter().cloned());
                    Some(setup)
                }
                Some(files) => {
                    match selfsigned::presence(files)? {
                        Presence::Both => {}
                        Presence::Neither if mode == Mode::Check => {
                            warnings.push(format!("`{}` and `{}` do not exist; `wssnode` will generate a self-signed pair there when it starts", files.key.named, files.certificate.named));
                        }
                        Presence::Neither => {
                            let print =
                                selfsigned::generate(&files.key.path, &files.certificate.path)
                                    .map_err(|e| {
                                        files.key.error(format!(
                                            "cannot generate a self-signed pair: {e}"
                                        ))
                                    })?;
                            warnings.push(format!(
                                "generated a self-signed certificate for localhost, 127.0.0.1 and ::1 at `{}` (SHA-256 {print}); browsers will warn until you trust it or use a certificate from a CA",
                                files.certificate.path.display()
                            ));
                        }
                    }
                    if files.key.path.exists() {
                        let setup = tls::setup(files)?;
                        warnings.extend(setup.warnings.iter().cloned());
                        Some(setup)
                    } else {
                        None
                    }
                }
            };
            let services = transport
                .paths
                .iter()
                .map(|(path, service)| {
                    Ok((
                        path.clone(),
                        site::service(transport.kind, service, &mut warnings)?,
                    ))
                })
                .collect::<Result<Vec<_>, StartError>>()?;
            transports.push(ReadyTransport {
                transport: transport.clone(),
                tls,
                services,
                realms: realms.clone(),
            });
        }
    }
    Ok(ReadyNode {
        config,
        transports,
        warnings,
        routers,
        cluster,
    })
}

/// What differs between a transport's new and running config, one key each: a path by its
/// URL (its type, options, auth principals), or the rest (endpoint, TLS, options).
fn transport_changes(
    new: &crate::config::Transport,
    old: &crate::config::Transport,
) -> Vec<String> {
    let mut changed = Vec::new();
    let shown = |paths: &[(String, crate::config::PathService)], url: &str| {
        paths
            .iter()
            .find(|(u, _)| u == url)
            .map(|(_, p)| format!("{p:?}"))
    };
    let mut urls: Vec<&String> = new.paths.iter().chain(&old.paths).map(|(u, _)| u).collect();
    urls.sort();
    urls.dedup();
    for url in urls {
        if shown(&new.paths, url) != shown(&old.paths, url) {
            changed.push(format!("`{}.paths` `{url}`", new.json_path));
        }
    }
    let rest = |t: &crate::config::Transport| {
        let mut t = t.clone();
        t.paths.clear();
        format!("{t:?}")
    };
    if rest(new) != rest(old) {
        changed.push(format!(
            "`{}` (endpoint, TLS, auth or options)",
            new.json_path
        ));
    }
    changed
}

/// Re-reads `config.json` (SIGHUP) against `running`, the config in force: realms' roles and
/// permissions take effect at once; any other change is logged with the restart it needs.
/// Answers the config now in force.
pub fn reload_config(dir: &Path, running: &NodeConfig, routers: &[Arc<Realms>]) -> NodeConfig {
    let new = match config::load(dir) {
        Ok(new) => new,
        Err(e) => {
            log::warn!("config.json not reloaded, the running config stays: {e}");
            return running.clone();
        }
    };
    let restart = |what: String| {
        log::warn!("{what} changed in config.json: restart wssnode to apply it (SIGHUP applies realms' roles and permissions only)")
    };
    if new.routers.len() != running.routers.len() {
        restart("the number of router workers".into());
    }
    for (i, (now, then)) in new.routers.iter().zip(&running.routers).enumerate() {
        // Compared as written (the password included, never shown).
        if format!("{:?}", now.cluster) != format!("{:?}", then.cluster) {
            restart(format!("`workers[{i}].cluster`"));
        }
        for realm in &now.realms {
            let Some(before) = then.realms.iter().find(|r| r.name == realm.name) else {
                restart(format!("`workers[{i}]`: realm `{}` (new)", realm.name));
                continue;
            };
            if format!("{:?}", realm.history) != format!("{:?}", before.history) {
                restart(format!("`workers[{i}]`: realm `{}`'s store", realm.name));
            }
            if format!("{:?}", realm.roles) == format!("{:?}", before.roles) {
                continue;
            }
            if let Some(live) = routers.get(i).and_then(|r| r.get(&realm.name)) {
                let (updated, closed) = live.replace_roles(realm.roles.clone());
                log::info!(
                    "reloaded the roles of realm `{}`: {updated} session(s) have their new permissions, {closed} closed (their role is gone)",
                    realm.name
                );
            }
        }
        for gone in then
            .realms
            .iter()
            .filter(|r| !now.realms.iter().any(|n| n.name == r.name))
        {
            restart(format!("`workers[{i}]`: realm `{}` (removed)", gone.name));
        }
        if now.transports.len() != then.transports.len() {
            restart(format!("the number of `workers[{i}].transports`"));
        }
        for (a, b) in now.transports.iter().zip(&then.transports) {
            transport_changes(a, b).into_iter().for_each(&restart);
        }
    }
    // What was not applied stays as it runs: the next SIGHUP compares against that.
    let mut in_force = running.clone();
    for (now, then) in new.routers.iter().zip(in_force.routers.iter_mut()) {
        for realm in then.realms.iter_mut() {
            if let Some(new_realm) = now.realms.iter().find(|r| r.name == realm.name) {
                realm.roles = new_realm.roles.clone();
            }
        }
    }
    in_force
}

/// One line about a transport: URL, paths, TLS.
pub fn summary(ready: &ReadyTransport, port: u16) -> String {
    let transport = &ready.transport;
    // From the config, not from `tls`: `check` builds no TLS for a pair still to be made.
    let secure = transport.endpoint.tls.is_some();
    let host = match &transport.endpoint.interface {
        Some(i) if i.contains(':') => format!("[{i}]"),
        Some(i) => i.clone(),
        None => "*".to_string(),
    };
    let paths: Vec<String> = ready
        .services
        .iter()
        .map(|(path, service)| {
            let (scheme, kind) = match service {
                Service::Static(_) => ("http", "static"),
                Service::Wamp(..) if transport.kind == TransportKind::RawSocket => {
                    ("rs", "wamp rawsocket")
                }
                Service::Wamp(..) => ("ws", "wamp"),
                Service::Echo(_) => ("ws", "echo"),
                Service::Redirect(_) => ("http", "redirect"),
                Service::Json(_) => ("http", "json"),
                Service::NodeInfo => ("http", "nodeinfo"),
                Service::LongPoll(_) => ("http", "wamp longpoll"),
                Service::Bridge(_) => ("http", "http bridge"),
                Service::Archive(_) => ("http", "archive"),
                Service::Health => ("http", "health"),
                Service::Metrics(_) => ("http", "metrics"),
            };
            let scheme = if secure {
                format!("{scheme}s")
            } else {
                scheme.to_string()
            };
            let shown = if matches!(
                transport.kind,
                TransportKind::Web | TransportKind::Universal
            ) {
                path.as_str()
            } else {
                "/*"
            };
            if let Some(unix) = &transport.endpoint.unix {
                let file = unix.path.path.display();
                let shown = if transport.kind == TransportKind::RawSocket {
                    ""
                } else {
                    shown
                };
                return format!("{scheme}+unix://{file}{shown} ({kind})");
            }
            format!("{scheme}://{host}:{port}{shown} ({kind})")
        })
        .collect();
    let mut paths = paths;
    if transport.rawsocket.is_some() {
        let scheme = if secure { "rss" } else { "rs" };
        paths.push(format!("{scheme}://{host}:{port} (wamp rawsocket)"));
    }
    let tls = match (&ready.tls, secure) {
        (Some(setup), _) => setup.summary.clone(),
        (None, true) => "TLS with the self-signed pair generated at start".to_string(),
        (None, false) => "no TLS".to_string(),
    };
    format!("{}: {}; {tls}", transport.json_path, paths.join(", "))
}

/// Binds every transport, then serves until shutdown.
pub async fn serve(node: ReadyNode, lifecycle: Lifecycle) -> Result<(), StartError> {
    // Bind everything first, so a port in use stops the node before it serves anything.
    let mut bound = Vec::new();
    for ready in node.transports {
        let listener = listener::bind(&ready.transport).await?;
        let port = listener.port().unwrap_or(ready.transport.endpoint.port);
        bound.push((ready, listener, port));
    }
    for warning in &node.warnings {
        log::warn!("{warning}");
    }
    if let Some(c) = node.cluster {
        crate::cluster::start(c.config, c.client, c.link, c.queues, c.realms);
    }
    let lines: Arc<Vec<String>> =
        Arc::new(bound.iter().map(|(r, _, port)| summary(r, *port)).collect());
    for line in lines.iter() {
        log::info!("listening {line}");
    }
    let mut tasks = Vec::new();
    // Plain transports answer the HTTP-01 challenges of the node's ACME clients that use it.
    let http_01: Vec<_> = bound
        .iter()
        .filter_map(|(ready, _, _)| ready.tls.as_ref()?.acme.clone())
        .filter(|acme| acme.uses_http_01())
        .map(|acme| acme.resolver())
        .collect();
    let http_01 = Arc::new(http_01);
    for (ready, listener, _) in bound {
        let plain = ready.tls.is_none();
        let site = Site {
            acme_http_01: if plain {
                http_01.clone()
            } else {
                Arc::default()
            },
            paths: ready.services,
            hsts_max_age: ready.transport.hsts_max_age,
            lifecycle: lifecycle.clone(),
            realms: ready.realms,
            transport_lines: lines.clone(),
        };
        let acceptor = ready
            .tls
            .as_ref()
            .map(|t| futures_rustls::TlsAcceptor::from(t.config.clone()));
        // An ACME endpoint's client runs beside its listener (the challenge comes to it).
        if let Some(acme) = ready.tls.as_ref().and_then(|t| t.acme.clone()) {
            let lifecycle = lifecycle.clone();
            tasks.push(async_std::task::spawn(
                async move { acme.run(lifecycle).await },
            ));
        }
        let raw_options = match (ready.transport.kind, site.paths.first()) {
            (TransportKind::RawSocket, Some((_, Service::Wamp(options, _)))) => {
                Some(options.clone())
            }
            (TransportKind::Universal, _) => ready
                .transport
                .rawsocket
                .as_ref()
                .map(|options| Arc::new((**options).clone())),
            _ => None,
        };
        let rawsocket = raw_options.map(|options| {
            Arc::new(RawSocketService {
                realms: site.realms.clone(),
                options,
                lifecycle: lifecycle.clone(),
            })
        });
        let listener = listener::Listener {
            socket: listener,
            tls: acceptor,
            app: site::app(site),
            lifecycle: lifecycle.clone(),
            limits: ready.transport.limits,
            rawsocket,
            universal: ready.transport.kind == TransportKind::Universal,
            name: ready.transport.json_path.as_str().into(),
        };
        tasks.push(async_std::task::spawn(listener.run()));
    }
    for task in tasks {
        task.await;
    }
    Ok(())
}

/// Re-reads every TLS key and certificate (SIGHUP); a bad file keeps the old pair.
pub fn reload_tls(endpoints: &[(TlsFiles, Arc<tls::ReloadableCert>)]) {
    for (files, certs) in endpoints {
        match tls::reload_key(files) {
            Ok(key) => {
                certs.replace(key);
                log::info!(
                    "reloaded {} for new connections",
                    files.certificate.path.display()
                );
            }
            Err(e) => log::warn!("reload failed, keeping the previous certificate: {e}"),
        }
    }
}

impl ReadyNode {
    /// The longest `drain` of the node's health paths, in seconds (0: none).
    pub fn drain_secs(&self) -> u64 {
        self.transports
            .iter()
            .flat_map(|t| &t.transport.paths)
            .filter_map(|(_, p)| match p {
                crate::config::PathService::Health { drain_s } => Some(*drain_s),
                _ => None,
            })
            .max()
            .unwrap_or(0)
    }

    /// Each TLS endpoint's files with the holder that serves its certificate.
    pub fn tls_endpoints(&self) -> Vec<(TlsFiles, Arc<tls::ReloadableCert>)> {
        self.transports
            .iter()
            .filter_map(|t| {
                Some((
                    t.transport.endpoint.tls.clone()?,
                    t.tls.as_ref()?.certs.clone()?,
                ))
            })
            .collect()
    }
}
