//! What each session holds (its subscriptions, its registrations, its calls in flight),
//! kept by the broker and the dealer beside their main maps: the count a limit checks, and
//! what a leaving session takes with it, found without looking at anyone else's.

use std::collections::{HashMap, HashSet};

/// IDs held, by session.
#[derive(Debug, Default)]
pub(crate) struct Held(HashMap<u64, HashSet<u64>>);

impl Held {
    /// How many IDs `session` holds.
    pub(crate) fn count(&self, session: u64) -> usize {
        self.0.get(&session).map_or(0, HashSet::len)
    }

    /// Whether `session` holds `id`.
    pub(crate) fn contains(&self, session: u64, id: u64) -> bool {
        self.0.get(&session).is_some_and(|ids| ids.contains(&id))
    }

    /// The IDs `session` holds.
    pub(crate) fn of(&self, session: u64) -> impl Iterator<Item = u64> + '_ {
        self.0.get(&session).into_iter().flatten().copied()
    }

    pub(crate) fn add(&mut self, session: u64, id: u64) {
        self.0.entry(session).or_default().insert(id);
    }

    /// Forgets `id` for `session`, and the session once it holds nothing.
    pub(crate) fn remove(&mut self, session: u64, id: u64) {
        if let Some(ids) = self.0.get_mut(&session) {
            ids.remove(&id);
            if ids.is_empty() {
                self.0.remove(&session);
            }
        }
    }

    /// Forgets everything `session` holds and returns it.
    pub(crate) fn take(&mut self, session: u64) -> Vec<u64> {
        self.0
            .remove(&session)
            .map(|ids| ids.into_iter().collect())
            .unwrap_or_default()
    }
}
