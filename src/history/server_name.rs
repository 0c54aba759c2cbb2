//! Server names as history events hold them: two bytes, an id into one table of names for the
//! whole process. A run records millions of completions and names a handful of servers, so an
//! event keeps the id, not an 8-byte pointer (`HistoryEvent` is 48 bytes with it, 56 without).
//!
//! The table only grows: a name, once in it, keeps its id (and its bytes) until the process
//! ends. It holds [`CAPACITY`]` - 1` names; past that, [`ServerName::intern`] says `None` and
//! the event keeps the name as text instead, so no run is ever refused for it. Ids depend on the
//! order in which threads first named servers, so nothing observable is made from them: events
//! read, write, compare and order by the name.

use std::collections::BTreeMap;
use std::num::NonZeroU16;
use std::sync::{Mutex, OnceLock, PoisonError};

/// Ids the table has room for (id 0 is never used, so an absent name costs no byte).
const CAPACITY: usize = 4096;

/// Each id's name, set once when the id is made; read without a lock.
static NAMES: [OnceLock<&'static str>; CAPACITY] = [const { OnceLock::new() }; CAPACITY];

/// Each interned name's id, for [`ServerName::intern`] (looked up only, never walked).
static IDS: Mutex<BTreeMap<&'static str, u16>> = Mutex::new(BTreeMap::new());

/// A server's name, interned: copied as two bytes, read back as the name (and shown as it:
/// the id is never printed).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ServerName(NonZeroU16);

impl std::fmt::Debug for ServerName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_str().fmt(f)
    }
}

impl ServerName {
    /// The id of `name`, made the first time the process sees it; `None` once the table is
    /// full and `name` is not in it.
    pub fn intern(name: &str) -> Option<Self> {
        let mut ids = IDS.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(&id) = ids.get(name) {
            return Some(ServerName(NonZeroU16::new(id).expect("ids start at 1")));
        }
        let id = ids.len() + 1;
        if id >= CAPACITY {
            return None;
        }
        // Bounded by the table: at most CAPACITY - 1 names are ever kept.
        let kept: &'static str = Box::leak(name.into());
        NAMES[id]
            .set(kept)
            .expect("an id is made once, under the lock");
        let id = u16::try_from(id).expect("CAPACITY fits 16 bits");
        ids.insert(kept, id);
        Some(ServerName(NonZeroU16::new(id).expect("ids start at 1")))
    }

    /// The name.
    pub fn as_str(self) -> &'static str {
        NAMES[usize::from(self.0.get())]
            .get()
            .expect("an id is handed out only after its name is set")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_keeps_one_id_and_reads_back() {
        let a = ServerName::intern("server-name-test-a").unwrap();
        let b = ServerName::intern("server-name-test-b").unwrap();
        assert_ne!(a, b);
        assert_eq!(ServerName::intern("server-name-test-a"), Some(a));
        assert_eq!(a.as_str(), "server-name-test-a");
        assert_eq!(b.as_str(), "server-name-test-b");
        assert_eq!(format!("{a:?}"), "\"server-name-test-a\"");
        assert_eq!(std::mem::size_of::<Option<ServerName>>(), 2);
    }

    #[test]
    fn names_interned_from_many_threads_each_get_one_id() {
        let names: Vec<String> = (0..64).map(|i| format!("server-name-test-t{i}")).collect();
        let ids: Vec<Vec<ServerName>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        names
                            .iter()
                            .map(|n| ServerName::intern(n).unwrap())
                            .collect()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for other in &ids[1..] {
            assert_eq!(other, &ids[0]);
        }
        for (n, id) in names.iter().zip(&ids[0]) {
            assert_eq!(id.as_str(), n);
        }
    }
}
