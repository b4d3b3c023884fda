//! Crossbar's config read into the model: the node, its router workers, realms and roles,
//! transports and endpoints, TLS, web paths, WebSocket options and `auth`.

use super::json::{Obj, Report};
use super::*;
use std::cell::RefCell;

mod archive;
mod auth;
mod bridge;
mod router;
mod tls;
mod transport;
mod web;
mod websocket;

/// Walks the JSON tree, keeping the config file for errors and collecting warnings.
pub(super) struct Reader<'a> {
    dir: &'a Path,
    report: Report<'a>,
    /// Features asked for that wssnode does not serve; reading goes on so all are named.
    refusals: RefCell<Vec<StartError>>,
}

impl<'a> Reader<'a> {
    pub(super) fn new(dir: &'a Path, file: &'a Path) -> Reader<'a> {
        Reader {
            dir,
            report: Report {
                file,
                warnings: RefCell::new(Vec::new()),
            },
            refusals: RefCell::new(Vec::new()),
        }
    }

    /// The read routers as the node's config, or every refusal at once.
    pub(super) fn finish(
        self,
        file: &Path,
        routers: Vec<Router>,
    ) -> Result<NodeConfig, StartError> {
        let refusals = self.refusals.take();
        if !refusals.is_empty() {
            return Err(StartError::Refused(refusals));
        }
        let routers = merge_shared_ports(routers, &self);
        if routers.iter().all(|r| r.transports.is_empty()) {
            return Err(self.error("workers", "no router worker has a transport, so there is nothing to serve; add a `router` worker with a `web` or `websocket` transport"));
        }
        Ok(NodeConfig {
            file: file.to_path_buf(),
            routers,
            warnings: self.report.warnings.into_inner(),
        })
    }

    fn error(&self, key: &str, problem: impl Into<String>) -> StartError {
        self.report.error(key, problem)
    }

    /// Names a feature we do not serve, and what to do instead.
    fn refuse(&self, key: &str, problem: impl Into<String>) {
        let error = self.error(key, problem);
        self.refusals.borrow_mut().push(error);
    }

    fn warn(&self, text: String) {
        self.report.warn(text);
    }

    fn obj<'r>(&'r self, key: &str, value: &'r Value) -> Result<Obj<'r, 'r>, StartError>
    where
        'a: 'r,
    {
        self.report.obj(key, value)
    }

    fn resolve(&self, key: &str, named: &str) -> NamedFile {
        NamedFile {
            json_path: key.to_string(),
            named: named.to_string(),
            path: self.dir.join(named),
        }
    }

    pub(super) fn node(&self, root: &Value) -> Result<Vec<Router>, StartError> {
        let top = self.obj("(top level)", root)?;
        match top.get("version") {
            None => self
                .warn("`version` is missing; reading the file as Crossbar config version 2".into()),
            Some(Value::Number(n)) if n.as_u64() == Some(2) => {}
            Some(other) => {
                return Err(self.error(
                    "version",
                    format!("must be 2 (Crossbar's config version), not {other}"),
                ))
            }
        }
        top.allow("$schema");
        top.ignore(
            "controller",
            "node controller settings are Crossbar's process management; wssnode is one process",
        );
        let mut routers = Vec::new();
        for (i, worker) in top.array("workers")?.iter().enumerate() {
            if let Some(router) = self.worker(&format!("workers[{i}]"), worker)? {
                routers.push(router);
            }
        }
        if routers.iter().filter(|r| r.cluster.is_some()).count() > 1 {
            return Err(self.error(
                "workers",
                "more than one router worker has a `cluster` section; a node joins one cluster, so give it to one worker",
            ));
        }
        top.done();
        Ok(routers)
    }

    fn worker(&self, key: &str, value: &Value) -> Result<Option<Router>, StartError> {
        let worker = self.obj(key, value)?;
        let kind = worker.required_str("type")?;
        match kind {
            "router" => {}
            "guest" | "container" => {
                self.warn(format!("`{key}`: a `{kind}` worker runs a program of its own; wssnode does not start it: start this component yourself and let it connect to the router over WebSocket"));
                return Ok(None);
            }
            "websocket-testee" => return self.testee_worker(key, &worker),
            other => {
                self.refuse(
                    &format!("{key}.type"),
                    format!("worker type `{other}` is not supported; wssnode runs `router` workers (and `websocket-testee`)"),
                );
                return Ok(None);
            }
        }
        worker.ignore(
            "options",
            "router worker options (process title, environment, …) do not apply to one process",
        );
        worker.ignore(
            "components",
            "embedded Python components cannot run in wssnode; start them yourself",
        );
        worker.allow("id");
        let mut realms: Vec<Realm> = Vec::new();
        for (i, realm) in worker.array_or_empty("realms")?.iter().enumerate() {
            let realm_key = format!("{key}.realms[{i}]");
            let realm = self.realm(&realm_key, realm)?;
            if let Some(first) = realms.iter().position(|r| r.name == realm.name) {
                return Err(self.error(
                    &format!("{realm_key}.name"),
                    format!("realm `{}` is already defined at `{key}.realms[{first}]`; merge their roles into one", realm.name),
                ));
            }
            realms.push(realm);
        }
        let mut transports = Vec::new();
        for (i, transport) in worker.array_or_empty("transports")?.iter().enumerate() {
            let transport_key = format!("{key}.transports[{i}]");
            transports.extend(self.transport(&transport_key, transport, None)?);
        }
        self.check_bridges(&realms, &transports)?;
        self.check_principal_roles(&realms, &transports);
        if worker.get("connections").is_some() {
            self.refuse(
                &format!("{key}.connections"),
                "outgoing router connections (router-to-router) are not supported; run one router",
            );
        }
        let cluster = match worker.get("cluster") {
            Some(value) => Some(self.cluster(&format!("{key}.cluster"), value)?),
            None => None,
        };
        worker.done();
        Ok(Some(Router {
            realms,
            transports,
            cluster,
        }))
    }

    /// Crossbar's older testee form: a worker with one `transport`.
    fn testee_worker(&self, key: &str, worker: &Obj<'_, '_>) -> Result<Option<Router>, StartError> {
        worker.ignore(
            "options",
            "worker options (CPU affinity, …) do not apply to one process",
        );
        let transport_key = format!("{key}.transport");
        let transport = self.transport(
            &transport_key,
            worker.required("transport")?,
            Some(TransportKind::Testee),
        )?;
        worker.done();
        Ok(Some(Router {
            realms: Vec::new(),
            transports: transport.into_iter().collect(),
            cluster: None,
        }))
    }
}

/// Crossbar lets several workers share a port (`shared: true`); wssnode is one process and
/// listens once: identical shared endpoints after the first are dropped with a warning.
fn merge_shared_ports(mut routers: Vec<Router>, reader: &Reader<'_>) -> Vec<Router> {
    let mut seen: Vec<(Option<String>, u16)> = Vec::new();
    for router in &mut routers {
        router.transports.retain(|t| {
            let at = (t.endpoint.interface.clone(), t.endpoint.port);
            if t.endpoint.port != 0 && seen.contains(&at) && t.endpoint.shared {
                reader.warn(format!("`{}` shares port {} with an earlier transport; wssnode listens once and serves it there", t.json_path, t.endpoint.port));
                return false;
            }
            seen.push(at);
            true
        });
    }
    routers
}
