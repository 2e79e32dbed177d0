//! The room: who is registered, by name key (spec §3.3), and routing of
//! encoded lines to their outboxes. Every method is synchronous and holds the
//! registry lock only while it touches the map and pushes (which never
//! waits), so no lock is ever held across an `.await`.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use bytes::Bytes;
use tagarela_parser::{Name, NameKey, Skeleton};

use crate::outbox::Outbox;

/// A registered client as others see it.
#[derive(Debug, Clone)]
pub struct Member {
    /// Display form (NFC).
    pub name: Name<'static>,
    /// Where lines for it go.
    pub outbox: Arc<Outbox>,
}

/// Why a name was refused at registration (§3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Clash {
    /// Someone online has the same key.
    Taken(Name<'static>),
    /// Someone online has a name with the same confusable skeleton.
    LooksLike(Name<'static>),
}

/// The registry behind the room's lock.
#[derive(Debug, Default)]
struct Registry {
    /// Who is online, by identity key: lookups for `@name` and uniqueness.
    members: HashMap<NameKey, Member>,
    /// The key of each online name by its skeleton, so a look-alike of a
    /// name online is refused (§3.3). Holds exactly one entry per member.
    skeletons: HashMap<Skeleton, NameKey>,
}

/// Everyone registered.
#[derive(Debug, Default)]
pub struct Room {
    registry: RwLock<Registry>,
}

impl Room {
    /// An empty room.
    pub fn new() -> Self {
        Room::default()
    }

    /// Registers `name` for `outbox` and announces it: `welcome(online)` goes
    /// to the newcomer and `join` to everyone else, under one lock so nobody
    /// sees a message from the newcomer before its JOIN. Fails, naming the
    /// holder's display form, when the key is taken or another name online
    /// has the same skeleton (§3.3).
    pub fn register(
        &self,
        name: &Name<'static>,
        outbox: &Arc<Outbox>,
        welcome: impl FnOnce(usize) -> Option<Bytes>,
        join: Option<Bytes>,
    ) -> Result<NameKey, Clash> {
        let key = name.key();
        let skeleton = name.skeleton();
        let mut registry = self
            .registry
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let Registry { members, skeletons } = &mut *registry;
        if let Some(holder) = members.get(&key) {
            return Err(Clash::Taken(holder.name.clone()));
        }
        if let Some(holder) = skeletons.get(&skeleton).and_then(|k| members.get(k)) {
            return Err(Clash::LooksLike(holder.name.clone()));
        }
        if let Some(line) = join {
            for m in members.values() {
                m.outbox.push(&line);
            }
        }
        skeletons.insert(skeleton, key.clone());
        members.insert(
            key.clone(),
            Member {
                name: name.clone(),
                outbox: Arc::clone(outbox),
            },
        );
        if let Some(line) = welcome(members.len()) {
            outbox.push(&line);
        }
        Ok(key)
    }

    /// Removes `key` and sends `leave` to everyone left. The name is free
    /// the moment this returns.
    pub fn unregister(&self, key: &NameKey, leave: Option<Bytes>) {
        let mut registry = self
            .registry
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let Registry { members, skeletons } = &mut *registry;
        if let Some(member) = members.remove(key) {
            skeletons.remove(&member.name.skeleton());
        }
        if let Some(line) = leave {
            for m in members.values() {
                m.outbox.push(&line);
            }
        }
    }

    /// Sends `line` to every member except the one whose outbox is `except`.
    /// Each recipient gets a copy of the octets in its own queue.
    pub fn broadcast(&self, except: &Arc<Outbox>, line: &Bytes) -> usize {
        let registry = self.registry.read().unwrap_or_else(PoisonError::into_inner);
        let members = &registry.members;
        let mut sent = 0;
        for m in members.values() {
            if !Arc::ptr_eq(&m.outbox, except) {
                m.outbox.push(line);
                sent += 1;
            }
        }
        sent
    }

    /// The member registered under `name`'s key, if any.
    pub fn find(&self, name: &Name<'_>) -> Option<Member> {
        let registry = self.registry.read().unwrap_or_else(PoisonError::into_inner);
        registry.members.get(&name.key()).cloned()
    }

    /// A snapshot of who is online (display forms), in no particular order.
    pub fn names(&self) -> Vec<Name<'static>> {
        let registry = self.registry.read().unwrap_or_else(PoisonError::into_inner);
        registry.members.values().map(|m| m.name.clone()).collect()
    }
}
