//! Which sessions an event may reach: PUBLISH.Options' black- and whitelists (spec
//! "Subscriber Black- and Whitelisting").

use crate::wamp::options::{self, Options};
use crate::wamp::sessions::Sessions;
use std::collections::HashSet;

/// Which sessions an event may reach, from PUBLISH.Options. Sets, so that checking a
/// receiver costs the same however long the lists a publisher sends.
#[derive(Debug, Default)]
pub(crate) struct Audience {
    pub exclude: HashSet<u64>,
    exclude_authid: HashSet<String>,
    exclude_authrole: HashSet<String>,
    eligible: Option<HashSet<u64>>,
    eligible_authid: Option<HashSet<String>>,
    eligible_authrole: Option<HashSet<String>>,
}

impl Audience {
    /// Whether any list restricts who may have the event.
    pub(crate) fn restricts(&self) -> bool {
        !self.exclude.is_empty()
            || !self.exclude_authid.is_empty()
            || !self.exclude_authrole.is_empty()
            || self.eligible.is_some()
            || self.eligible_authid.is_some()
            || self.eligible_authrole.is_some()
    }

    /// About the memory its lists hold.
    pub(crate) fn size(&self) -> usize {
        let names = |set: &HashSet<String>| set.iter().map(|s| 48 + s.len()).sum::<usize>();
        let ids = |set: &HashSet<u64>| set.len() * 16;
        ids(&self.exclude)
            + names(&self.exclude_authid)
            + names(&self.exclude_authrole)
            + self.eligible.as_ref().map_or(0, ids)
            + self.eligible_authid.as_ref().map_or(0, names)
            + self.eligible_authrole.as_ref().map_or(0, names)
    }

    /// The lists of PUBLISH.Options.
    pub(crate) fn read(options: &Options) -> Result<Audience, String> {
        let set = |list: Option<Vec<u64>>| list.map(|l| l.into_iter().collect::<HashSet<_>>());
        let names = |list: Option<Vec<String>>| list.map(|l| l.into_iter().collect::<HashSet<_>>());
        Ok(Audience {
            exclude: set(options::ids(options, "exclude")?).unwrap_or_default(),
            exclude_authid: names(options::strings(options, "exclude_authid")?).unwrap_or_default(),
            exclude_authrole: names(options::strings(options, "exclude_authrole")?)
                .unwrap_or_default(),
            eligible: set(options::ids(options, "eligible")?),
            eligible_authid: names(options::strings(options, "eligible_authid")?),
            eligible_authrole: names(options::strings(options, "eligible_authrole")?),
        })
    }

    /// Whether the event may reach `session`.
    pub(crate) fn admits(&self, sessions: &Sessions, session: u64) -> bool {
        let Some(member) = sessions.get(session) else {
            return false;
        };
        let authid = &member.identity.authid;
        let authrole = &member.identity.authrole;
        !self.exclude.contains(&session)
            && !self.exclude_authid.contains(authid)
            && !self.exclude_authrole.contains(authrole)
            && self.eligible.as_ref().is_none_or(|e| e.contains(&session))
            && self
                .eligible_authid
                .as_ref()
                .is_none_or(|e| e.contains(authid))
            && self
                .eligible_authrole
                .as_ref()
                .is_none_or(|e| e.contains(authrole))
    }
}
