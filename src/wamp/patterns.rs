//! The index of subscriptions or registrations by URI pattern (spec "Pattern-based
//! Subscription" and "Pattern-based Registration"): finding what matches a URI costs in
//! proportion to the URI's length and to what matches, never to how many unrelated
//! patterns the realm holds.
//!
//! One structure per match policy, as Crossbar and nexus keep them: exact URIs in a hash
//! map; prefixes in a radix tree over bytes (a prefix is a string prefix: `com.myapp`
//! matches `com.myapp2`); wildcards in a tree over URI components, where an empty
//! component matches any one component.

use crate::config::MatchPolicy;
use std::collections::HashMap;

/// Patterns of the three policies, each mapped to the ID of its subscription or registration.
#[derive(Debug, Default)]
pub(crate) struct PatternIndex {
    exact: HashMap<String, u64>,
    prefix: PrefixNode,
    wildcard: WildcardNode,
}

impl PatternIndex {
    /// The ID stored for exactly this pattern and policy.
    pub(crate) fn get(&self, policy: MatchPolicy, pattern: &str) -> Option<u64> {
        match policy {
            MatchPolicy::Exact => self.exact.get(pattern).copied(),
            MatchPolicy::Prefix => self.prefix.get(pattern.as_bytes()),
            MatchPolicy::Wildcard => self.wildcard.get(pattern.split('.')),
        }
    }

    /// Stores `id` for a pattern, replacing what was there.
    pub(crate) fn insert(&mut self, policy: MatchPolicy, pattern: &str, id: u64) {
        match policy {
            MatchPolicy::Exact => {
                self.exact.insert(pattern.to_string(), id);
            }
            MatchPolicy::Prefix => self.prefix.insert(pattern.as_bytes(), id),
            MatchPolicy::Wildcard => self.wildcard.insert(pattern.split('.'), id),
        }
    }

    /// Removes a pattern; returns its ID if it was there.
    pub(crate) fn remove(&mut self, policy: MatchPolicy, pattern: &str) -> Option<u64> {
        match policy {
            MatchPolicy::Exact => self.exact.remove(pattern),
            MatchPolicy::Prefix => self.prefix.remove(pattern.as_bytes()),
            MatchPolicy::Wildcard => {
                let components: Vec<&str> = pattern.split('.').collect();
                self.wildcard.remove(&components)
            }
        }
    }

    /// The exact pattern equal to `uri`, if any.
    pub(crate) fn exact(&self, uri: &str) -> Option<u64> {
        self.exact.get(uri).copied()
    }

    /// Every prefix pattern of `uri`, shortest first.
    pub(crate) fn prefixes(&self, uri: &str, found: impl FnMut(u64)) {
        self.prefix.matches(uri.as_bytes(), found);
    }

    /// Every wildcard pattern that matches `uri`.
    pub(crate) fn wildcards(&self, uri: &str, mut found: impl FnMut(u64)) {
        if self.wildcard.is_empty() {
            return;
        }
        let components: Vec<&str> = uri.split('.').collect();
        self.wildcard.matches(&components, &mut found);
    }

    /// Every pattern that matches `uri`: the exact one first, then prefixes, then wildcards.
    pub(crate) fn matching(&self, uri: &str) -> Vec<u64> {
        let mut ids: Vec<u64> = self.exact(uri).into_iter().collect();
        self.prefixes(uri, |id| ids.push(id));
        self.wildcards(uri, |id| ids.push(id));
        ids
    }
}

/// A radix tree node: the ID of the prefix that ends here, and children by edge label.
#[derive(Debug, Default)]
struct PrefixNode {
    id: Option<u64>,
    /// Sorted by the label's first byte; no two labels share a first byte.
    children: Vec<(Box<[u8]>, PrefixNode)>,
}

impl PrefixNode {
    /// The child whose label starts with `byte`.
    fn child_at(&self, byte: u8) -> Result<usize, usize> {
        self.children
            .binary_search_by_key(&byte, |(label, _)| label[0])
    }

    fn get(&self, key: &[u8]) -> Option<u64> {
        let mut node = self;
        let mut rest = key;
        while let Some(&first) = rest.first() {
            let at = node.child_at(first).ok()?;
            let (label, child) = &node.children[at];
            rest = rest.strip_prefix(&label[..])?;
            node = child;
        }
        node.id
    }

    fn insert(&mut self, key: &[u8], id: u64) {
        let Some(&first) = key.first() else {
            self.id = Some(id);
            return;
        };
        match self.child_at(first) {
            Err(at) => {
                let leaf = PrefixNode {
                    id: Some(id),
                    children: Vec::new(),
                };
                self.children.insert(at, (key.into(), leaf));
            }
            Ok(at) => {
                let (label, child) = &mut self.children[at];
                let common = label.iter().zip(key).take_while(|(a, b)| a == b).count();
                if common < label.len() {
                    // Split the edge: a new node for the shared part, the old child below it.
                    let old_label: Box<[u8]> = label[common..].into();
                    let old_child = std::mem::take(child);
                    *label = key[..common].into();
                    child.children.push((old_label, old_child));
                }
                child.insert(&key[common..], id);
            }
        }
    }

    fn remove(&mut self, key: &[u8]) -> Option<u64> {
        let Some(&first) = key.first() else {
            return self.id.take();
        };
        let at = self.child_at(first).ok()?;
        let (label, child) = &mut self.children[at];
        let rest = key.strip_prefix(&label[..])?;
        let removed = child.remove(rest)?;
        // Keep the tree compressed: drop an empty leaf, merge a node left with one child.
        if child.id.is_none() {
            match child.children.len() {
                0 => {
                    self.children.remove(at);
                }
                1 => {
                    let (grand_label, grand_child) = child.children.remove(0);
                    let mut merged = label.to_vec();
                    merged.extend_from_slice(&grand_label);
                    self.children[at] = (merged.into(), grand_child);
                }
                _ => {}
            }
        }
        Some(removed)
    }

    fn matches(&self, key: &[u8], mut found: impl FnMut(u64)) {
        let mut node = self;
        let mut rest = key;
        loop {
            if let Some(id) = node.id {
                found(id);
            }
            let Some(&first) = rest.first() else { return };
            let Ok(at) = node.child_at(first) else { return };
            let (label, child) = &node.children[at];
            let Some(after) = rest.strip_prefix(&label[..]) else {
                return;
            };
            rest = after;
            node = child;
        }
    }
}

/// A node of the wildcard tree: one level per URI component.
#[derive(Debug, Default)]
struct WildcardNode {
    /// The pattern that ends at this depth.
    id: Option<u64>,
    /// An empty component: matches any one component.
    any: Option<Box<WildcardNode>>,
    named: HashMap<Box<str>, WildcardNode>,
}

impl WildcardNode {
    fn is_empty(&self) -> bool {
        self.id.is_none() && self.any.is_none() && self.named.is_empty()
    }

    fn get<'a>(&self, components: impl Iterator<Item = &'a str>) -> Option<u64> {
        let mut node = self;
        for c in components {
            node = if c.is_empty() {
                node.any.as_deref()?
            } else {
                node.named.get(c)?
            };
        }
        node.id
    }

    fn insert<'a>(&mut self, components: impl Iterator<Item = &'a str>, id: u64) {
        let mut node = self;
        for c in components {
            node = if c.is_empty() {
                node.any.get_or_insert_with(Box::default)
            } else {
                node.named.entry(c.into()).or_default()
            };
        }
        node.id = Some(id);
    }

    fn remove(&mut self, components: &[&str]) -> Option<u64> {
        let Some((first, rest)) = components.split_first() else {
            return self.id.take();
        };
        if first.is_empty() {
            let child = self.any.as_deref_mut()?;
            let removed = child.remove(rest)?;
            if child.is_empty() {
                self.any = None;
            }
            Some(removed)
        } else {
            let child = self.named.get_mut(*first)?;
            let removed = child.remove(rest)?;
            if child.is_empty() {
                self.named.remove(*first);
            }
            Some(removed)
        }
    }

    /// Visits only the branches that match so far: the named child and the `any` child.
    fn matches(&self, components: &[&str], found: &mut impl FnMut(u64)) {
        let Some((first, rest)) = components.split_first() else {
            if let Some(id) = self.id {
                found(id);
            }
            return;
        };
        if let Some(child) = self.named.get(*first) {
            child.matches(rest, found);
        }
        if let Some(child) = &self.any {
            child.matches(rest, found);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wamp::uri;
    use MatchPolicy::*;

    fn sorted(mut ids: Vec<u64>) -> Vec<u64> {
        ids.sort_unstable();
        ids
    }

    #[test]
    fn each_policy_finds_what_uri_matches_says() {
        let patterns = [
            (Exact, "com.myapp.topic1"),
            (Prefix, ""),
            (Prefix, "com"),
            (Prefix, "com.myapp"),
            (Prefix, "com.myapp.topic1"),
            (Prefix, "com.my"),
            (Prefix, "org"),
            (Wildcard, "com.myapp."),
            (Wildcard, ".myapp.topic1"),
            (Wildcard, "com..topic1"),
            (Wildcard, ".."),
            (Wildcard, "com.myapp.topic1."),
        ];
        let mut index = PatternIndex::default();
        for (id, (policy, pattern)) in patterns.iter().enumerate() {
            index.insert(*policy, pattern, id as u64);
        }
        for topic in [
            "com.myapp.topic1",
            "com.myapp2",
            "com.myapp.topic1.x",
            "org.x.y",
            "c",
            "com",
        ] {
            let expected: Vec<u64> = patterns
                .iter()
                .enumerate()
                .filter(|(_, (policy, pattern))| uri::matches(pattern, *policy, topic))
                .map(|(id, _)| id as u64)
                .collect();
            assert_eq!(sorted(index.matching(topic)), expected, "topic {topic}");
        }
    }

    #[test]
    fn removing_a_prefix_keeps_the_others_reachable() {
        let mut index = PatternIndex::default();
        index.insert(Prefix, "com.a", 1);
        index.insert(Prefix, "com.ab", 2);
        index.insert(Prefix, "com.b", 3);
        assert_eq!(index.remove(Prefix, "com.a"), Some(1));
        assert_eq!(index.remove(Prefix, "com.a"), None);
        assert_eq!(index.matching("com.abc"), vec![2]);
        assert_eq!(index.get(Prefix, "com.b"), Some(3));
        assert_eq!(index.get(Prefix, "com."), None);
        assert_eq!(index.remove(Prefix, "com.ab"), Some(2));
        assert_eq!(index.remove(Prefix, "com.b"), Some(3));
        assert!(index.prefix.children.is_empty());
    }

    #[test]
    fn removing_a_wildcard_prunes_its_branch() {
        let mut index = PatternIndex::default();
        index.insert(Wildcard, "a..c", 1);
        index.insert(Wildcard, "a.b.", 2);
        assert_eq!(sorted(index.matching("a.b.c")), vec![1, 2]);
        assert_eq!(index.remove(Wildcard, "a..c"), Some(1));
        assert_eq!(index.matching("a.b.c"), vec![2]);
        assert_eq!(index.remove(Wildcard, "a.b."), Some(2));
        assert!(index.wildcard.is_empty());
    }
}
