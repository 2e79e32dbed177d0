//! A scripted Redis for the link's unit tests: each pipeline gets the
//! next scripted answer, and every command sent is kept as words for the
//! test to read. Test-only; the conformance scenarios run a real
//! `redis-server`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use redis::Value;

use super::error::CallError;
use super::port::RedisPort;

/// What a scripted Redis does with the next pipeline.
#[derive(Debug, Clone)]
pub enum Answer {
    /// Replies with these values.
    Replies(Vec<Value>),
    /// Fails so.
    Fails(CallError),
    /// Never answers (the caller's own deadline must end the wait).
    Hangs,
}

/// A Redis that answers each pipeline with the next scripted
/// answer (and times out once the script is spent), and keeps every
/// command it was sent as words, for the test to read.
#[derive(Debug, Clone, Default)]
pub struct Scripted {
    /// Shared by every clone, as one connection's clones share it.
    inner: Arc<Mutex<Script>>,
}

/// The answers still to give, and the commands sent.
#[derive(Debug, Default)]
struct Script {
    answers: VecDeque<Answer>,
    sent: Vec<Vec<String>>,
}

impl Scripted {
    /// Adds `answer` to the script.
    pub fn then(&self, answer: Answer) -> &Scripted {
        self.lock().answers.push_back(answer);
        self
    }

    /// Every command sent so far, as words.
    pub fn sent(&self) -> Vec<Vec<String>> {
        self.lock().sent.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Script> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl RedisPort for Scripted {
    async fn run(&mut self, commands: Vec<redis::Cmd>) -> Result<Vec<Value>, CallError> {
        let answer = {
            let mut inner = self.lock();
            for command in &commands {
                let words = command
                    .args_iter()
                    .map(|arg| match arg {
                        redis::Arg::Simple(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                        _ => "<cursor>".to_owned(),
                    })
                    .collect();
                inner.sent.push(words);
            }
            inner.answers.pop_front()
        };
        match answer {
            Some(Answer::Replies(values)) => Ok(values),
            Some(Answer::Fails(e)) => Err(e),
            Some(Answer::Hangs) => std::future::pending().await,
            None => Err(CallError::TimedOut),
        }
    }
}
