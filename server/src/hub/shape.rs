//! A name's look-alike shapes (spec §3.3) as the hubs keep them: not the
//! skeleton strings themselves but a 64-bit hash of each, keyed with a
//! secret this process draws at random, so that two names look alike
//! here exactly when their skeletons are equal (a different pair hashing
//! alike is a 2^-64 chance that nobody outside can aim for, not knowing
//! the key). Eight octets where a skeleton string and its allocation
//! took about fifty, twice for every name held and twice more in the
//! roster's index (issue 22's memory goal). Never leaves the process: a
//! cluster's Redis is given the skeletons themselves.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::OnceLock;

use tagarela_parser::{Name, Skeleton};

/// The key every shape of this process is hashed with.
static KEY: OnceLock<RandomState> = OnceLock::new();

/// One look-alike skeleton of a name, hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shape(u64);

impl Shape {
    /// The shape of `skeleton`.
    pub fn of(skeleton: &Skeleton) -> Shape {
        Shape(
            KEY.get_or_init(RandomState::new)
                .hash_one(skeleton.as_str()),
        )
    }

    /// The two shapes of `name` (of its skeletons, §3.3).
    pub fn of_name(name: &Name<'_>) -> [Shape; 2] {
        name.skeletons().map(|s| Shape::of(&s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Name<'static> {
        Name::normalize(s).unwrap_or_else(|_| unreachable!())
    }

    /// Look-alikes have a shape in common, other names none.
    #[test]
    fn look_alikes_share_a_shape_and_others_do_not() {
        let alice = Shape::of_name(&name("alice"));
        let allce = Shape::of_name(&name("ALlCE"));
        assert!(alice.iter().any(|s| allce.contains(s)));
        let bob = Shape::of_name(&name("bob"));
        assert!(bob.iter().any(|s| Shape::of_name(&name("b0b")).contains(s)));
        assert!(!alice.iter().any(|s| bob.contains(s)));
    }
}
