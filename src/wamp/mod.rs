//! The WAMP v2 router (wamp-proto, Basic and parts of the Advanced Profile): the realms of a
//! router worker, and the WebSocket subprotocols it speaks.

pub(crate) mod audience;
pub(crate) mod auth;
pub(crate) mod authorize;
pub(crate) mod broker;
pub(crate) mod cluster;
pub(crate) mod cookies;
pub(crate) mod dealer;
pub(crate) mod elsewhere;
pub(crate) mod held;
pub mod message;
pub(crate) mod meta;
pub(crate) mod options;
pub(crate) mod patterns;
pub(crate) mod peer;
pub(crate) mod realm;
pub(crate) mod remembered;
pub mod serializer;
pub(crate) mod service;
pub(crate) mod session;
pub(crate) mod sessions;
pub(crate) mod testament;
pub(crate) mod uri;

use crate::config;
use realm::Realm;
use service::ServiceSession;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The WebSocket subprotocols for a path's `serializers`, in its order.
pub fn subprotocols(serializers: &[String]) -> Vec<&'static str> {
    serializers
        .iter()
        .filter_map(|s| serializer::Serializer::from_config(s))
        .map(serializer::Serializer::subprotocol)
        .collect()
}

/// The realms of one router worker, by name, and the router's own session in each realm
/// where it needed one.
#[derive(Default)]
pub struct Realms {
    realms: HashMap<String, Arc<Realm>>,
    services: Mutex<HashMap<String, Arc<ServiceSession>>>,
}

impl Realms {
    /// Builds the realms a router worker's config names, served with the other nodes of
    /// `cluster` when there is one.
    pub fn new(configs: &[config::Realm], cluster: Option<Arc<cluster::Link>>) -> Realms {
        Realms {
            realms: configs
                .iter()
                .map(|c| {
                    (
                        c.name.clone(),
                        Arc::new(Realm::new(c.clone(), cluster.clone())),
                    )
                })
                .collect(),
            services: Mutex::default(),
        }
    }

    /// Every realm.
    pub(crate) fn all(&self) -> impl Iterator<Item = &Arc<Realm>> {
        self.realms.values()
    }

    /// The realm with this name.
    pub fn get(&self, name: &str) -> Option<Arc<Realm>> {
        self.realms.get(name).cloned()
    }

    /// The router's own session in realm `name`, which joins when first needed.
    pub(crate) fn service(&self, name: &str) -> Option<Arc<ServiceSession>> {
        let realm = self.get(name)?;
        let mut services = crate::lock(&self.services);
        if let Some(service) = services.get(name).filter(|s| s.is_alive()) {
            return Some(service.clone());
        }
        // First use, or the one before has gone: a new one joins.
        let service = Arc::new(ServiceSession::join(realm));
        services.insert(name.to_string(), service.clone());
        Some(service)
    }
}
