//! Who watches which names (IRC's `MONITOR`, spec §20.6): each watcher is
//! told when a name it watches comes online or leaves. Kept by the hub
//! beside the members, under the same lock; indexed both ways, so that a
//! registration and a departure touch only their own entries. Knows no
//! wire format, and never waits: telling is [`Recipient::presence`].

use std::collections::HashMap;
use std::sync::Arc;

use tagarela_parser::NameKey;

use crate::hub::Recipient;

/// A watcher, by the address of its recipient (stable while it lives).
pub type WatcherId = usize;

/// The address `watcher` is known by here.
pub fn id_of(watcher: &Arc<dyn Recipient>) -> WatcherId {
    Arc::as_ptr(watcher).cast::<()>() as usize
}

/// The watch lists of this process's clients.
#[derive(Debug, Default)]
pub struct Monitors {
    /// Who watches each name.
    by_name: HashMap<NameKey, Vec<Arc<dyn Recipient>>>,
    /// The names each watcher watches (to forget it in one step).
    by_watcher: HashMap<WatcherId, Vec<NameKey>>,
}

impl Monitors {
    /// `watcher` watches `key` from now on (once, however often asked).
    pub fn watch(&mut self, watcher: &Arc<dyn Recipient>, key: NameKey) {
        let keys = self.by_watcher.entry(id_of(watcher)).or_default();
        if keys.contains(&key) {
            return;
        }
        keys.push(key.clone());
        self.by_name
            .entry(key)
            .or_default()
            .push(Arc::clone(watcher));
    }

    /// `watcher` no longer watches `key`.
    pub fn unwatch(&mut self, watcher: &Arc<dyn Recipient>, key: &NameKey) {
        let id = id_of(watcher);
        if let Some(keys) = self.by_watcher.get_mut(&id) {
            keys.retain(|k| k != key);
            if keys.is_empty() {
                self.by_watcher.remove(&id);
            }
        }
        self.drop_watcher_of(id, key);
    }

    /// `watcher` is gone: it watches nothing any more.
    pub fn forget(&mut self, watcher: &Arc<dyn Recipient>) {
        let id = id_of(watcher);
        for key in self.by_watcher.remove(&id).unwrap_or_default() {
            self.drop_watcher_of(id, &key);
        }
    }

    /// Who watches `key`.
    pub fn watchers(&self, key: &NameKey) -> &[Arc<dyn Recipient>] {
        self.by_name.get(key).map_or(&[], Vec::as_slice)
    }

    fn drop_watcher_of(&mut self, id: WatcherId, key: &NameKey) {
        if let Some(list) = self.by_name.get_mut(key) {
            list.retain(|w| id_of(w) != id);
            if list.is_empty() {
                self.by_name.remove(key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;
    use crate::hub::crowd::Notice;
    use crate::hub::{Entered, RoomList, RoomRefusal};
    use tagarela_parser::{Name, RoomName};

    #[derive(Debug)]
    struct Nobody;

    impl Recipient for Nobody {
        fn deliver(&self, _: &Event) {}
        fn replaced(&self) {}
        fn cut_off(&self) {}
        fn killed(&self) {}
        fn undeliverable(&self, _: &Name<'static>) {}
        fn crowd(&self, _: &Notice) {}
        fn entered(&self, _: &Entered) {}
        fn room_refused(&self, _: &RoomName<'static>, _: &RoomRefusal) {}
        fn room_list(&self, _: &RoomList<'_>) {}
    }

    fn key(s: &str) -> NameKey {
        Name::new(s).unwrap_or_else(|_| unreachable!()).key()
    }

    #[test]
    fn watches_are_kept_both_ways_and_forgotten_whole() {
        let (a, b): (Arc<dyn Recipient>, Arc<dyn Recipient>) = (Arc::new(Nobody), Arc::new(Nobody));
        let mut m = Monitors::default();
        m.watch(&a, key("ana"));
        m.watch(&a, key("ana"));
        m.watch(&a, key("bia"));
        m.watch(&b, key("ana"));
        assert_eq!(m.watchers(&key("ana")).len(), 2);
        m.unwatch(&b, &key("ana"));
        assert_eq!(m.watchers(&key("ana")).len(), 1);
        m.forget(&a);
        assert!(m.watchers(&key("ana")).is_empty());
        assert!(m.watchers(&key("bia")).is_empty());
        assert!(m.by_name.is_empty() && m.by_watcher.is_empty());
    }
}
