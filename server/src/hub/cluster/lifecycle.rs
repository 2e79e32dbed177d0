//! A node's life in its cluster (spec §17.4) as one state machine: out,
//! entering as a new incarnation, in, cut off; which incarnations hold
//! names still to be released; and how often a failing entry is said in
//! the log. One method per event, each moving to the next stage; the
//! link does the I/O. Sans-I/O and clock-free.

use std::sync::Arc;

/// One entry of this process into the cluster, as Redis names it:
/// `NODE-ID.PROCESS.N`. A node that leaves and enters again is a new
/// incarnation, so news of an earlier one (a late cut, a late answer) is
/// told from the current one by comparing values, never strings built
/// on the spot.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Incarnation(Arc<str>);

impl Incarnation {
    /// Its name in Redis and on the channel.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the channel's `node` field names this incarnation.
    pub fn is(&self, node: &str) -> bool {
        *self.0 == *node
    }
}

impl std::fmt::Display for Incarnation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
impl From<&str> for Incarnation {
    fn from(name: &str) -> Incarnation {
        Incarnation(name.into())
    }
}

/// Where the node is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stage {
    /// Not in the cluster; `failures` entries failed in a row.
    Out { failures: u64 },
    /// Trying to enter as this incarnation, after `failures` failed
    /// entries in a row (0 after having been in).
    Entering {
        incarnation: Incarnation,
        failures: u64,
    },
    /// In the cluster as this incarnation, following the channel.
    In(Incarnation),
    /// Was in the cluster as this incarnation, and lost it.
    CutOff(Incarnation),
}

/// What the log should say of an entry that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Said {
    /// A warning: the first failure, then one every 30 in a row.
    Warn { attempts: u64 },
    /// A debug line.
    Quietly { attempts: u64 },
    /// Nothing: the node had been in, and its loss is logged by the hub.
    Nothing,
}

/// A node's stage, the incarnations whose names are not yet released,
/// and the counts.
#[derive(Debug)]
pub struct Lifecycle {
    /// The operator's `--node-id`.
    node_id: String,
    /// A part of the name no other process has: a node restarted with
    /// the same node id never takes over its predecessor's names (they
    /// are reaped when that one's lease ends).
    process: String,
    /// The last incarnation number given.
    last: u64,
    /// Where the node is.
    stage: Stage,
    /// Incarnations that got a lease and whose names are not yet
    /// released (now, at the next entry, or at shutdown), oldest first.
    abandoned: Vec<Incarnation>,
}

impl Lifecycle {
    /// A node `node_id` of process `process`, out of the cluster.
    pub fn new(node_id: &str, process: &str) -> Lifecycle {
        Lifecycle {
            node_id: node_id.to_owned(),
            process: process.to_owned(),
            last: 0,
            stage: Stage::Out { failures: 0 },
            abandoned: Vec::new(),
        }
    }

    /// Where the node is.
    #[cfg(test)]
    pub fn stage(&self) -> &Stage {
        &self.stage
    }

    /// A new incarnation tries to enter (from out or cut off).
    pub fn enter(&mut self) -> Incarnation {
        self.last += 1;
        let name = format!("{}.{}.{}", self.node_id, self.process, self.last);
        let incarnation = Incarnation(name.into());
        let failures = match self.stage {
            Stage::Out { failures } => failures,
            _ => 0,
        };
        self.stage = Stage::Entering {
            incarnation: incarnation.clone(),
            failures,
        };
        incarnation
    }

    /// Redis gave the entering incarnation a lease: whatever happens
    /// next, its names are this node's to release.
    pub fn leased(&mut self) {
        if let Stage::Entering { incarnation, .. } = &self.stage
            && !self.abandoned.contains(incarnation)
        {
            self.abandoned.push(incarnation.clone());
        }
    }

    /// The entering incarnation follows the channel: it is in.
    pub fn entered(&mut self) {
        if let Stage::Entering { incarnation, .. } = &self.stage {
            self.stage = Stage::In(incarnation.clone());
        }
    }

    /// Entering or being in ended: cut off if it was in, else out with
    /// one failure more. Returns what the log should say of it.
    pub fn ended(&mut self) -> Said {
        let failures = match &self.stage {
            Stage::In(incarnation) => {
                self.stage = Stage::CutOff(incarnation.clone());
                return Said::Nothing;
            }
            Stage::Entering { failures, .. } | Stage::Out { failures } => *failures,
            Stage::CutOff(_) => 0,
        };
        let attempts = failures + 1;
        self.stage = Stage::Out { failures: attempts };
        if attempts % 30 == 1 {
            Said::Warn { attempts }
        } else {
            Said::Quietly { attempts }
        }
    }

    /// The incarnation trying to enter or in, if any.
    pub fn current(&self) -> Option<&Incarnation> {
        match &self.stage {
            Stage::Entering { incarnation, .. } | Stage::In(incarnation) => Some(incarnation),
            Stage::Out { .. } | Stage::CutOff(_) => None,
        }
    }

    /// The oldest incarnation whose names are not yet released, other
    /// than the current one.
    pub fn next_to_release(&self) -> Option<&Incarnation> {
        self.abandoned.iter().find(|i| Some(*i) != self.current())
    }

    /// Every incarnation whose names are not yet released (at shutdown).
    pub fn all_to_release(&mut self) -> Vec<Incarnation> {
        std::mem::take(&mut self.abandoned)
    }

    /// `incarnation`'s names were released.
    pub fn released(&mut self, incarnation: &Incarnation) {
        self.abandoned.retain(|i| i != incarnation);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scripted events: a first entry that fails, one that gets in, a
    /// cut, and the names of each leased incarnation kept for release.
    #[test]
    fn a_node_goes_out_in_and_is_cut_off_as_new_incarnations() {
        let mut life = Lifecycle::new("n1", "ab12");
        assert_eq!(life.stage(), &Stage::Out { failures: 0 });
        let first = life.enter();
        assert_eq!(first.as_str(), "n1.ab12.1");
        assert_eq!(life.ended(), Said::Warn { attempts: 1 });
        assert_eq!(
            life.next_to_release(),
            None,
            "never leased: nothing to release"
        );
        let second = life.enter();
        life.leased();
        assert_eq!(
            life.next_to_release(),
            None,
            "the current one is not released"
        );
        life.entered();
        assert_eq!(life.stage(), &Stage::In(second.clone()));
        assert!(second.is("n1.ab12.2") && !second.is("n1.ab12.1"));
        assert_eq!(life.ended(), Said::Nothing);
        assert_eq!(life.stage(), &Stage::CutOff(second.clone()));
        let third = life.enter();
        assert_eq!(life.next_to_release(), Some(&second));
        life.released(&second);
        assert_eq!(life.next_to_release(), None);
        life.leased();
        assert_eq!(life.all_to_release(), [third]);
    }

    /// A failing entry is warned of once, then every 30 tries; a node
    /// that had been in counts again from one.
    #[test]
    fn failures_in_a_row_are_warned_of_every_thirty() {
        let mut life = Lifecycle::new("n1", "p");
        let said: Vec<Said> = (0..31)
            .map(|_| {
                life.enter();
                life.ended()
            })
            .collect();
        assert_eq!(said[0], Said::Warn { attempts: 1 });
        assert_eq!(said[1], Said::Quietly { attempts: 2 });
        assert_eq!(said[30], Said::Warn { attempts: 31 });
        life.enter();
        life.entered();
        life.ended();
        life.enter();
        assert_eq!(life.ended(), Said::Warn { attempts: 1 });
    }
}
