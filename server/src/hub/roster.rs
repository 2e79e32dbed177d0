//! Who holds which name: members by identity key, and the key holding
//! each look-alike skeleton (spec §3.3), kept together so that a claim is
//! checked the same way by every hub. Plain data behind the hub's lock;
//! knows nothing of connections, events or Redis.

use std::collections::HashMap;

use tagarela_parser::{Name, NameKey};

use crate::hub::shape::Shape;

use crate::hub::Clash;

/// What a roster needs of a member.
pub trait Holder {
    /// Its display form.
    fn name(&self) -> &Name<'static>;
    /// Its skeletons (as written and upper-case).
    fn shapes(&self) -> &[Shape; 2];
}

/// Members by key, indexed by skeleton.
#[derive(Debug)]
pub struct Roster<M> {
    /// Who holds a name, by its key.
    members: HashMap<NameKey, M>,
    /// The key holding each skeleton: two entries per member (one if they
    /// are equal).
    skeletons: HashMap<Shape, NameKey>,
}

impl<M> Default for Roster<M> {
    fn default() -> Self {
        Roster {
            members: HashMap::new(),
            skeletons: HashMap::new(),
        }
    }
}

impl<M> std::ops::Deref for Roster<M> {
    type Target = HashMap<NameKey, M>;

    /// Reading is reading the members; changes go through the roster.
    fn deref(&self) -> &Self::Target {
        &self.members
    }
}

impl<M: Holder> Roster<M> {
    /// The clash a claim of `key` with these skeletons would make.
    pub fn clash(&self, key: &NameKey, shapes: &[Shape; 2]) -> Option<Clash> {
        if let Some(holder) = self.members.get(key) {
            return Some(Clash::Taken(holder.name().clone()));
        }
        shapes
            .iter()
            .find_map(|shape| self.skeletons.get(shape))
            .and_then(|k| self.members.get(k))
            .map(|holder| Clash::LooksLike(holder.name().clone()))
    }

    /// Adds (or replaces) the member holding `key`.
    pub fn insert(&mut self, key: NameKey, member: M) {
        for shape in member.shapes() {
            self.skeletons.insert(*shape, key.clone());
        }
        self.members.insert(key, member);
    }

    /// Removes the member holding `key`, and its skeletons.
    /// The member holding `key`, to change what is not its name.
    pub fn get_mut(&mut self, key: &NameKey) -> Option<&mut M> {
        self.members.get_mut(key)
    }

    /// Removes the member holding `key`.
    pub fn remove(&mut self, key: &NameKey) -> Option<M> {
        let member = self.members.remove(key)?;
        for shape in member.shapes() {
            if self.skeletons.get(shape) == Some(key) {
                self.skeletons.remove(shape);
            }
        }
        Some(member)
    }

    /// Forgets everyone.
    pub fn clear(&mut self) {
        self.members.clear();
        self.skeletons.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Plain(Name<'static>, [Shape; 2]);

    impl Holder for Plain {
        fn name(&self) -> &Name<'static> {
            &self.0
        }
        fn shapes(&self) -> &[Shape; 2] {
            &self.1
        }
    }

    fn add(roster: &mut Roster<Plain>, s: &str) {
        let name = Name::normalize(s).unwrap_or_else(|_| unreachable!());
        let shapes = Shape::of_name(&name);
        roster.insert(name.key(), Plain(name, shapes));
    }

    fn clash(roster: &Roster<Plain>, s: &str) -> Option<Clash> {
        let name = Name::normalize(s).unwrap_or_else(|_| unreachable!());
        roster.clash(&name.key(), &Shape::of_name(&name))
    }

    #[test]
    fn a_key_or_a_look_alike_clashes_until_removed() {
        let mut roster = Roster::default();
        add(&mut roster, "alice");
        let alice = Name::normalize("alice").unwrap_or_else(|_| unreachable!());
        assert_eq!(clash(&roster, "ALICE"), Some(Clash::Taken(alice.clone())));
        assert_eq!(
            clash(&roster, "aIice"),
            Some(Clash::LooksLike(alice.clone()))
        );
        assert_eq!(clash(&roster, "bob"), None);
        assert!(roster.remove(&alice.key()).is_some());
        assert_eq!(clash(&roster, "aIice"), None);
        assert!(roster.is_empty());
    }
}
