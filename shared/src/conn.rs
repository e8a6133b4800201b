//! Connecting to Redis.
//!
//! Every connection HATS opens is named with `CLIENT SETNAME`
//! (`hats-worker:w1:control`, `hatter`), so an operator can tell them apart in
//! `CLIENT LIST`, and has connect and response time-outs, so a stalled server
//! shows up as an error instead of a hang.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::AsyncConnectionConfig;

use crate::config::RedisSettings;
use crate::error::{Error, ErrorKind, Result};

/// How long connecting may take before it counts as failed.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Opens a multiplexed connection and names it `client_name`.
///
/// `response_timeout` bounds each command; pass `None` for connections that
/// carry blocking commands.
pub async fn connect(
    settings: &RedisSettings,
    client_name: &str,
    response_timeout: Option<Duration>,
) -> Result<MultiplexedConnection> {
    let info = settings.connection_info()?;
    let client = redis::Client::open(info).map_err(|e| {
        Error::invalid(
            "redis.connect",
            format!("bad Redis settings for {}: {e}", settings.describe()),
        )
    })?;
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(response_timeout);
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map_err(|e| connect_error(settings, e))?;
    redis::cmd("CLIENT")
        .arg("SETNAME")
        .arg(client_name)
        .query_async::<()>(&mut conn)
        .await
        .map_err(|e| connect_error(settings, e))?;
    Ok(conn)
}

fn connect_error(settings: &RedisSettings, err: redis::RedisError) -> Error {
    let target = settings.describe();
    if err.kind() == redis::ErrorKind::AuthenticationFailed
        || err.code() == Some("NOAUTH")
        || err.code() == Some("WRONGPASS")
    {
        return Error::new(
            "redis.connect",
            ErrorKind::Invalid,
            format!("Redis at {target} refused the login ({err}): check --redis-password"),
        );
    }
    Error::new(
        "redis.connect",
        ErrorKind::Unavailable,
        format!(
            "cannot reach Redis at {target} ({err}): start redis-server there, or pass --redis-address HOST:PORT"
        ),
    )
}
