//! The port the link's duties talk to Redis through: one method, a
//! pipeline of commands bounded in time, one reply each. A real node uses
//! redis-rs's `ConnectionManager`; the duties' unit tests use
//! [`Scripted`] replies (the conformance scenarios run a real
//! `redis-server`). Knows nothing of the cluster's functions.

use std::future::Future;

use redis::Value;
use redis::aio::ConnectionManager;
use tokio::time::timeout;

use super::CALL_TIMEOUT;
use super::error::CallError;

/// Something that runs Redis commands.
pub(super) trait RedisPort: Clone + Send + Sync + 'static {
    /// Sends `commands` in one pipeline and waits at most the call
    /// timeout: one reply per command, in order, or what went wrong.
    fn run(
        &mut self,
        commands: Vec<redis::Cmd>,
    ) -> impl Future<Output = Result<Vec<Value>, CallError>> + Send;
}

impl RedisPort for ConnectionManager {
    async fn run(&mut self, commands: Vec<redis::Cmd>) -> Result<Vec<Value>, CallError> {
        let mut pipe = redis::pipe();
        for command in commands {
            pipe.add_command(command);
        }
        match timeout(CALL_TIMEOUT, pipe.query_async::<Vec<Value>>(self)).await {
            Ok(Ok(values)) => Ok(values),
            Ok(Err(e)) => Err(CallError::Redis(e.to_string())),
            Err(_) => Err(CallError::TimedOut),
        }
    }
}

/// One command, through `port`: its one reply.
pub(super) async fn one(
    port: &mut impl RedisPort,
    command: redis::Cmd,
) -> Result<Value, CallError> {
    let mut replies = port.run(vec![command]).await?;
    match (replies.pop(), replies.is_empty()) {
        (Some(value), true) => Ok(value),
        _ => Err(CallError::WrongLength),
    }
}

/// One function call (`FCALL function 0 args...`), through `port`.
pub(super) async fn call(
    port: &mut impl RedisPort,
    function: &str,
    args: &[&str],
) -> Result<Value, CallError> {
    let mut command = redis::cmd("FCALL");
    command.arg(function).arg(0);
    for a in args {
        command.arg(*a);
    }
    one(port, command).await
}
