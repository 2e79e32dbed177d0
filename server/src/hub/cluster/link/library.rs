//! The functions Redis runs for the cluster (`cluster.lua`, spec §17.5):
//! loaded where there are none, replaced by a build of the same version,
//! and never replaced across versions (a node of another version stays
//! out instead).

use redis::Value;

use super::error::LinkError;
use super::port::{RedisPort, one};
use crate::hub::hall::ROOM_RECENT_MAX;
use crate::hub::resume::RESUME_KEEP;
use crate::hub::room::BANS_MAX;

/// The functions, loaded at each entry (Redis may have restarted).
const LIBRARY: &str = include_str!("../cluster.lua");
/// The version of [`LIBRARY`] (its `LIBRARY_VERSION`), spec §17.5.
pub const LIBRARY_VERSION: i64 = 2;

/// The library as it is loaded: [`LIBRARY`] with the constants it is
/// given filled in.
fn library() -> String {
    LIBRARY
        .replace("{{RESUME_KEEP}}", &RESUME_KEEP.as_secs().to_string())
        .replace("{{BANS_MAX}}", &BANS_MAX.to_string())
        .replace("{{ROOM_RECENT_MAX}}", &ROOM_RECENT_MAX.to_string())
}

/// Makes sure Redis holds this build's library of functions (spec
/// §17.5): loads it where there is none, replaces one of the same version
/// (a compatible build's; a library from before libraries had versions is
/// version 1), and refuses one of another version, which nodes of another
/// build are using: this node then stays out of the cluster.
pub(super) async fn load_library(conn: &mut impl RedisPort) -> Result<(), LinkError> {
    // The connection manager finds out that Redis dropped its connection
    // only when a call on it fails, and reconnects then. Asking what is
    // held changes nothing, so a failed ask is asked once more at once:
    // the first entry after Redis comes back does not lose a whole RETRY
    // to that (it did: 2 s instead of at most 1).
    let mut held = match library_version(conn).await {
        Ok(held) => held,
        Err(_) => library_version(conn).await?,
    };
    // Two tries: a node of any version may load one between our look and
    // our load, which then fails and is looked at again.
    for _ in 0..2 {
        let replace = match held {
            Some(LIBRARY_VERSION) => true,
            Some(version) => return Err(LinkError::OtherVersion(version)),
            None => false,
        };
        let mut load = redis::cmd("FUNCTION");
        load.arg("LOAD");
        if replace {
            load.arg("REPLACE");
        }
        load.arg(library());
        let loaded = one(conn, load).await;
        held = library_version(conn).await?;
        match (loaded, held) {
            (Ok(_), Some(LIBRARY_VERSION)) => return Ok(()),
            (Ok(_), _) => return Err(LinkError::NotLoaded),
            // Someone else's load came first: look again.
            (Err(_), Some(_)) if !replace => continue,
            (Err(e), _) => return Err(LinkError::Load(e)),
        }
    }
    match held {
        Some(LIBRARY_VERSION) => Ok(()),
        Some(version) => Err(LinkError::OtherVersion(version)),
        None => Err(LinkError::NoFunctions),
    }
}

/// The version of the library Redis holds, if it holds one (`FUNCTION
/// LIST`): what its `tagarela_version` returns, or 1 if it has none (it
/// is from before libraries had versions).
pub(super) async fn library_version(conn: &mut impl RedisPort) -> Result<Option<i64>, LinkError> {
    let list = redis::cmd("FUNCTION")
        .arg("LIST")
        .arg("LIBRARYNAME")
        .arg("tagarela")
        .to_owned();
    let listed = one(conn, list).await.map_err(LinkError::ListFunctions)?;
    if matches!(&listed, Value::Array(libraries) if libraries.is_empty()) {
        return Ok(None);
    }
    if !mentions(&listed, "tagarela_version") {
        return Ok(Some(1));
    }
    let ask = redis::cmd("FCALL")
        .arg("tagarela_version")
        .arg(0)
        .to_owned();
    match one(conn, ask).await {
        Ok(Value::Int(version)) => Ok(Some(version)),
        Ok(other) => Err(LinkError::OddVersion(format!("{other:?}"))),
        Err(e) => Err(LinkError::AskVersion(e)),
    }
}

/// Whether `value` holds the text `word` anywhere (a function's name in a
/// `FUNCTION LIST` reply, whichever protocol version shaped it).
pub(super) fn mentions(value: &Value, word: &str) -> bool {
    match value {
        Value::BulkString(b) => b == word.as_bytes(),
        Value::SimpleString(s) => s == word,
        Value::Array(items) | Value::Set(items) => items.iter().any(|v| mentions(v, word)),
        Value::Map(pairs) => pairs
            .iter()
            .any(|(k, v)| mentions(k, word) || mentions(v, word)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::super::error::CallError;
    use super::super::scripted::{Answer, Scripted};
    use super::*;

    #[test]
    fn a_function_is_found_in_a_listing_of_either_shape() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let function = Value::Map(vec![(bulk("name"), bulk("tagarela_version"))]);
        let resp3 = Value::Array(vec![Value::Map(vec![
            (bulk("library_name"), bulk("tagarela")),
            (bulk("functions"), Value::Array(vec![function])),
        ])]);
        let resp2 = Value::Array(vec![Value::Array(vec![
            bulk("library_name"),
            bulk("tagarela"),
            bulk("functions"),
            Value::Array(vec![Value::Array(vec![
                bulk("name"),
                bulk("tagarela_claim"),
            ])]),
        ])]);
        assert!(mentions(&resp3, "tagarela_version"));
        assert!(!mentions(&resp2, "tagarela_version"));
    }

    /// The Lua library and this file name the same version (§17.5).
    #[test]
    fn the_library_declares_the_version_this_build_speaks() {
        let declared = LIBRARY
            .lines()
            .find_map(|l| l.strip_prefix("local LIBRARY_VERSION = "))
            .and_then(|v| v.trim().parse::<i64>().ok());
        assert_eq!(declared, Some(LIBRARY_VERSION));
    }

    /// Every constant the library is given is filled in, as Lua numbers.
    #[test]
    fn the_library_is_loaded_with_its_constants_filled_in() {
        let loaded = library();
        assert!(!loaded.contains("{{"), "a constant left unfilled");
        assert!(loaded.contains("local RESUME_KEEP = 600\n"));
    }

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    /// A `FUNCTION LIST` reply holding a library with `tagarela_version`.
    fn listing() -> Value {
        Value::Array(vec![Value::Array(vec![
            bulk("library_name"),
            bulk("tagarela"),
            bulk("functions"),
            Value::Array(vec![Value::Array(vec![
                bulk("name"),
                bulk("tagarela_version"),
            ])]),
        ])])
    }

    /// The first two words of each command sent, and whether a load
    /// replaced.
    fn verbs(redis: &Scripted) -> Vec<String> {
        redis
            .sent()
            .iter()
            .map(|words| {
                let replace = if words.get(2).is_some_and(|w| w == "REPLACE") {
                    " REPLACE"
                } else {
                    ""
                };
                format!("{} {}{replace}", words[0], words[1])
            })
            .collect()
    }

    /// Scripted Redis (spec §17.5): none held is loaded without REPLACE
    /// (with its constants filled in), the same version is replaced,
    /// another version is never touched; a failed first look is taken
    /// again at once.
    #[tokio::test]
    async fn the_library_is_loaded_where_none_or_the_same_version_is_held() {
        let mut redis = Scripted::default();
        redis
            .then(Answer::Replies(vec![Value::Array(vec![])]))
            .then(Answer::Replies(vec![bulk("tagarela")]))
            .then(Answer::Replies(vec![listing()]))
            .then(Answer::Replies(vec![Value::Int(LIBRARY_VERSION)]));
        assert_eq!(load_library(&mut redis).await, Ok(()));
        assert_eq!(
            verbs(&redis),
            [
                "FUNCTION LIST",
                "FUNCTION LOAD",
                "FUNCTION LIST",
                "FCALL tagarela_version"
            ]
        );
        assert!(redis.sent()[1][2].contains("local RESUME_KEEP = 600\n"));

        let mut redis = Scripted::default();
        redis
            .then(Answer::Fails(CallError::Redis("broken pipe".to_owned())))
            .then(Answer::Replies(vec![listing()]))
            .then(Answer::Replies(vec![Value::Int(LIBRARY_VERSION)]))
            .then(Answer::Replies(vec![bulk("tagarela")]))
            .then(Answer::Replies(vec![listing()]))
            .then(Answer::Replies(vec![Value::Int(LIBRARY_VERSION)]));
        assert_eq!(load_library(&mut redis).await, Ok(()));
        assert!(verbs(&redis).contains(&"FUNCTION LOAD REPLACE".to_owned()));

        let mut redis = Scripted::default();
        redis
            .then(Answer::Replies(vec![listing()]))
            .then(Answer::Replies(vec![Value::Int(LIBRARY_VERSION + 1)]));
        assert_eq!(
            load_library(&mut redis).await,
            Err(LinkError::OtherVersion(LIBRARY_VERSION + 1))
        );
        assert!(!verbs(&redis).iter().any(|v| v.starts_with("FUNCTION LOAD")));
    }
}
