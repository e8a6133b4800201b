//! `sql.New(dsn, "mysql")` and the handle's `Ping`, `Query`, `Exec`,
//! `Close`.
//!
//! `New` checks the driver name and the DSN and returns a handle, or an
//! error string when either is wrong (`typeof db === "string"`); it does not
//! connect. The handle connects on first use and again after a failure.
//! DSNs: `user:pass@tcp(host:port)/db` (the Go driver's form, with optional
//! `?key=value` parameters, which are ignored) and
//! `mysql://user:pass@host:port/db`.
//!
//! Results, as DESIGN gives them: `Ping()` and `Close()` return `null` or an
//! error string; `Query(sql, ...args)` an array of `{column: value}` objects,
//! or `null` on error; `Exec(sql, ...args)` the number of affected rows, or
//! `undefined` on error. Every error is also logged on the script's log
//! (worker log and log stream), so a script that ignores a `null` still
//! leaves a trace. After `Close()` the handle stays closed: `Ping()` returns
//! an error string, `Query()` `null` and `Exec()` `undefined`; `Close()`
//! again returns `null`.
//!
//! Arguments are always bound as statement parameters, never pasted into
//! the text: `null` and `undefined` as `NULL`, booleans as 1 and 0, whole
//! numbers as integers, other numbers as doubles, strings as text, objects
//! and arrays as their JSON text.
//!
//! Column values: integers and floats become numbers, except an integer
//! past ±(2^53 - 1), which a number cannot hold exactly and which becomes
//! its decimal string; text and blobs become strings (bytes that are not
//! UTF-8 replaced by U+FFFD), `NULL` `null`, `DATE` `"2024-05-06"`,
//! `DATETIME`/`TIMESTAMP` `"2024-05-06T07:08:09"` (with `.ffffff` when there
//! are microseconds), `TIME` `"07:08:09"` (`-` and hours past 24 as MySQL
//! gives them), and `DECIMAL` a string, so no digit is lost.
//!
//! The driver is blocking and runs on the script's own thread. Each query is
//! bounded by a 30-second read timeout; a stop takes effect when the current
//! query returns.

use std::cell::RefCell;
use std::time::Duration;

use boa_engine::object::builtins::JsArray;
use boa_engine::object::ObjectInitializer;
use boa_engine::property::Attribute;
use boa_engine::{
    js_string, Context, Finalize, JsData, JsObject, JsResult, JsString, JsValue, NativeFunction,
    Trace,
};
use mysql::consts::ColumnType;
use mysql::prelude::Queryable;

use super::{console, host, type_error};

/// How long one statement may wait for the server.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The native side of a handle.
#[derive(Trace, Finalize, JsData)]
struct Handle {
    /// Where to connect.
    #[unsafe_ignore_trace]
    opts: mysql::Opts,
    /// The open connection, if any.
    #[unsafe_ignore_trace]
    conn: RefCell<Option<mysql::Conn>>,
    /// Set by `Close()`: the handle is done, and every later call on it
    /// fails (as `database/sql` does in the original HATS) rather than
    /// quietly connecting again.
    closed: std::cell::Cell<bool>,
}

/// Registers `sql`.
pub fn register(ctx: &mut Context) -> JsResult<()> {
    let sql = ObjectInitializer::new(ctx)
        .function(NativeFunction::from_fn_ptr(new), js_string!("New"), 2)
        .build();
    ctx.register_global_property(js_string!("sql"), sql, Attribute::all())?;
    Ok(())
}

fn new(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    host(ctx)?.guard()?;
    let text = |i: usize| {
        args.get(i)
            .and_then(|v| v.as_string())
            .map(|s| s.to_std_string_lossy())
    };
    let Some(dsn) = text(0) else {
        return Err(type_error(
            "sql.New",
            "the DSN (argument 1) must be a string",
        ));
    };
    let driver = text(1).unwrap_or_default();
    if driver != "mysql" {
        let error = format!("sql.New: unknown driver `{driver}`: only \"mysql\" is supported");
        log_error(ctx, &error);
        return Ok(JsString::from(error).into());
    }
    let opts = match parse_dsn(&dsn) {
        Ok(o) => o,
        Err(e) => {
            let error = format!("sql.New: {e}");
            log_error(ctx, &error);
            return Ok(JsString::from(error).into());
        }
    };
    let handle = Handle {
        opts,
        conn: RefCell::new(None),
        closed: std::cell::Cell::new(false),
    };
    let object = ObjectInitializer::with_native_data(handle, ctx)
        .function(NativeFunction::from_fn_ptr(ping), js_string!("Ping"), 0)
        .function(NativeFunction::from_fn_ptr(query), js_string!("Query"), 1)
        .function(NativeFunction::from_fn_ptr(exec), js_string!("Exec"), 1)
        .function(NativeFunction::from_fn_ptr(close), js_string!("Close"), 0)
        .build();
    Ok(object.into())
}

/// Reads either DSN form into connection options; the password never
/// appears in an error.
pub fn parse_dsn(dsn: &str) -> Result<mysql::Opts, String> {
    let bad = || {
        format!(
            "`{}` is not a MySQL DSN: write user:pass@tcp(host:port)/db or mysql://user:pass@host:port/db",
            mask(dsn)
        )
    };
    let (user, pass, host, port, db) = if let Some(rest) = dsn.strip_prefix("mysql://") {
        let (auth, rest) = rest
            .rsplit_once('@')
            .map(|(a, r)| (Some(a), r))
            .unwrap_or((None, rest));
        let (hostport, db) = rest.split_once('/').unwrap_or((rest, ""));
        let (host, port) = split_host_port(hostport).ok_or_else(bad)?;
        let (user, pass) = split_auth(auth);
        (
            user.map(|u| percent_decode(&u)),
            pass.map(|p| percent_decode(&p)),
            host,
            port,
            db.split('?').next().unwrap_or("").to_string(),
        )
    } else {
        let (auth, rest) = dsn
            .rsplit_once('@')
            .map(|(a, r)| (Some(a), r))
            .unwrap_or((None, dsn));
        let rest = rest.strip_prefix("tcp(").ok_or_else(bad)?;
        let (hostport, rest) = rest.split_once(')').ok_or_else(bad)?;
        let db = rest.strip_prefix('/').ok_or_else(bad)?;
        let (host, port) = split_host_port(hostport).ok_or_else(bad)?;
        let (user, pass) = split_auth(auth);
        (
            user,
            pass,
            host,
            port,
            db.split('?').next().unwrap_or("").to_string(),
        )
    };
    let builder = mysql::OptsBuilder::new()
        .ip_or_hostname(Some(host))
        .tcp_port(port)
        .user(user.filter(|u| !u.is_empty()))
        .pass(pass.filter(|p| !p.is_empty()))
        .db_name(Some(db).filter(|d| !d.is_empty()))
        .read_timeout(Some(READ_TIMEOUT))
        .write_timeout(Some(READ_TIMEOUT))
        .tcp_connect_timeout(Some(CONNECT_TIMEOUT));
    Ok(builder.into())
}

fn split_auth(auth: Option<&str>) -> (Option<String>, Option<String>) {
    match auth {
        None => (None, None),
        Some(a) => match a.split_once(':') {
            Some((u, p)) => (Some(u.to_string()), Some(p.to_string())),
            None => (Some(a.to_string()), None),
        },
    }
}

fn split_host_port(s: &str) -> Option<(String, u16)> {
    if s.is_empty() {
        return None;
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() => {
            Some((h.trim_matches(['[', ']']).to_string(), p.parse().ok()?))
        }
        Some(_) => None,
        None => Some((s.to_string(), 3306)),
    }
}

/// `%XX` escapes decoded; anything else, a `%` without two hex digits
/// after it included, is kept as it is. Works on bytes, so text that is not
/// ASCII next to a `%` is never cut inside a character.
fn percent_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            if let (Some(&h), Some(&l)) = (bytes.get(i + 1), bytes.get(i + 2)) {
                if let (Some(h), Some(l)) = (hex(h), hex(l)) {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The DSN with its password replaced, for messages.
fn mask(dsn: &str) -> String {
    let (scheme, rest) = match dsn.strip_prefix("mysql://") {
        Some(r) => ("mysql://", r),
        None => ("", dsn),
    };
    match rest.rsplit_once('@') {
        Some((auth, tail)) => match auth.split_once(':') {
            Some((u, _)) => format!("{scheme}{u}:***@{tail}"),
            None => format!("{scheme}{auth}@{tail}"),
        },
        None => dsn.to_string(),
    }
}

/// Logs an error on the script's log (worker log and log stream).
fn log_error(ctx: &mut Context, error: &str) {
    if let Ok(h) = host(ctx) {
        console::write_line(&h, console::Level::Warn, error.to_string());
    }
}

/// Runs `f` with the handle's connection, connecting first when needed; a
/// failed statement that broke the connection drops it.
fn with_conn<T>(
    this: &JsValue,
    function: &str,
    ctx: &mut Context,
    f: impl FnOnce(&mut mysql::Conn) -> Result<T, mysql::Error>,
) -> JsResult<Result<T, String>> {
    host(ctx)?.guard()?;
    let object: JsObject = this
        .as_object()
        .filter(|o| o.downcast_ref::<Handle>().is_some())
        .ok_or_else(|| type_error(function, "call it on a handle from sql.New"))?
        .clone();
    let handle = object.downcast_ref::<Handle>().expect("checked above");
    if handle.closed.get() {
        return Ok(Err(format!(
            "{function}: the handle is closed; open another with sql.New"
        )));
    }
    let mut slot = handle.conn.borrow_mut();
    if slot.is_none() {
        match mysql::Conn::new(handle.opts.clone()) {
            Ok(c) => *slot = Some(c),
            Err(e) => return Ok(Err(format!("{function}: cannot connect: {e}"))),
        }
    }
    let conn = slot.as_mut().expect("connected above");
    match f(conn) {
        Ok(v) => Ok(Ok(v)),
        Err(e) => {
            if matches!(e, mysql::Error::IoError(_) | mysql::Error::DriverError(_)) {
                *slot = None;
            }
            Ok(Err(match e {
                mysql::Error::MySqlError(se) => {
                    format!(
                        "{function}: ERROR {} ({}): {}",
                        se.code, se.state, se.message
                    )
                }
                other => format!("{function}: {other}"),
            }))
        }
    }
}

fn ping(this: &JsValue, _: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    match with_conn(this, "db.Ping", ctx, |c| c.ping())? {
        Ok(()) => Ok(JsValue::null()),
        Err(e) => {
            log_error(ctx, &e);
            Ok(JsString::from(e).into())
        }
    }
}

fn close(this: &JsValue, _: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    host(ctx)?.guard()?;
    if let Some(handle) = this
        .as_object()
        .as_ref()
        .and_then(|o| o.downcast_ref::<Handle>())
    {
        handle.closed.set(true);
        handle.conn.borrow_mut().take();
        return Ok(JsValue::null());
    }
    Ok(JsString::from("db.Close: call it on a handle from sql.New").into())
}

/// The statement text and bound parameters of a `Query`/`Exec` call.
fn statement(
    function: &str,
    args: &[JsValue],
    ctx: &mut Context,
) -> JsResult<(String, mysql::Params)> {
    let Some(text) = args.first().and_then(|v| v.as_string()) else {
        return Err(type_error(
            function,
            "the SQL text (argument 1) must be a string",
        ));
    };
    let mut params = Vec::new();
    for v in &args[1..] {
        params.push(js_to_sql(v, ctx)?);
    }
    let params = if params.is_empty() {
        mysql::Params::Empty
    } else {
        mysql::Params::Positional(params)
    };
    Ok((text.to_std_string_lossy(), params))
}

fn js_to_sql(v: &JsValue, ctx: &mut Context) -> JsResult<mysql::Value> {
    Ok(if v.is_null_or_undefined() {
        mysql::Value::NULL
    } else if let Some(b) = v.as_boolean() {
        mysql::Value::Int(i64::from(b))
    } else if let Some(n) = v.as_number() {
        if n.fract() == 0.0 && n.abs() < 9.007_199_254_740_992e15 {
            mysql::Value::Int(n as i64)
        } else {
            mysql::Value::Double(n)
        }
    } else if v.is_object() {
        match v.to_json(ctx)? {
            Some(json) => mysql::Value::Bytes(json.to_string().into_bytes()),
            None => mysql::Value::NULL,
        }
    } else {
        mysql::Value::Bytes(v.to_string(ctx)?.to_std_string_lossy().into_bytes())
    })
}

fn query(this: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let (text, params) = statement("db.Query", args, ctx)?;
    let rows = with_conn(this, "db.Query", ctx, |c| {
        let result = c.exec_iter(text, params)?;
        let columns: Vec<(String, ColumnType)> = result
            .columns()
            .as_ref()
            .iter()
            .map(|c| (c.name_str().into_owned(), c.column_type()))
            .collect();
        let mut rows = Vec::new();
        for row in result {
            let row = row?;
            rows.push(row.unwrap());
        }
        Ok((columns, rows))
    })?;
    match rows {
        Ok((columns, rows)) => {
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let object = JsObject::with_object_proto(ctx.intrinsics());
                for ((name, kind), value) in columns.iter().zip(row) {
                    object.set(
                        JsString::from(name.as_str()),
                        sql_to_js(value, *kind),
                        false,
                        ctx,
                    )?;
                }
                out.push(JsValue::from(object));
            }
            Ok(JsArray::from_iter(out, ctx).into())
        }
        Err(e) => {
            log_error(ctx, &e);
            Ok(JsValue::null())
        }
    }
}

fn exec(this: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let (text, params) = statement("db.Exec", args, ctx)?;
    match with_conn(this, "db.Exec", ctx, |c| {
        c.exec_drop(text, params)?;
        Ok(c.affected_rows())
    })? {
        Ok(n) => Ok(JsValue::from(n as f64)),
        Err(e) => {
            log_error(ctx, &e);
            Ok(JsValue::undefined())
        }
    }
}

/// The largest integer a number holds exactly, together with all below it
/// (`Number.MAX_SAFE_INTEGER`).
const MAX_SAFE_INTEGER: i128 = (1 << 53) - 1;

/// An integer column value: a number when a number holds it exactly, else
/// its decimal text. Compared as an integer: converted to a float first,
/// 2^53 + 1 would round to 2^53 and pass as a number that is off by one.
fn integer(i: i128) -> JsValue {
    if i.abs() <= MAX_SAFE_INTEGER {
        JsValue::from(i as f64)
    } else {
        JsString::from(i.to_string()).into()
    }
}

/// A column value as the script sees it; see the module docs.
fn sql_to_js(value: mysql::Value, kind: ColumnType) -> JsValue {
    use mysql::Value as V;
    match value {
        V::NULL => JsValue::null(),
        V::Int(i) => integer(i128::from(i)),
        V::UInt(u) => integer(i128::from(u)),
        // Through its shortest decimal form, so a FLOAT 1.1 reads as 1.1,
        // not as 1.100000023841858.
        V::Float(f) => JsValue::from(f.to_string().parse::<f64>().unwrap_or(f64::from(f))),
        V::Double(d) => JsValue::from(d),
        V::Bytes(b) => {
            let text = String::from_utf8_lossy(&b).into_owned();
            match kind {
                ColumnType::MYSQL_TYPE_TINY
                | ColumnType::MYSQL_TYPE_SHORT
                | ColumnType::MYSQL_TYPE_LONG
                | ColumnType::MYSQL_TYPE_INT24
                | ColumnType::MYSQL_TYPE_LONGLONG
                | ColumnType::MYSQL_TYPE_YEAR => match text.parse::<i128>() {
                    Ok(i) => integer(i),
                    Err(_) => JsString::from(text).into(),
                },
                ColumnType::MYSQL_TYPE_FLOAT | ColumnType::MYSQL_TYPE_DOUBLE => {
                    match text.parse::<f64>() {
                        Ok(n) => JsValue::from(n),
                        Err(_) => JsString::from(text).into(),
                    }
                }
                _ => JsString::from(text).into(),
            }
        }
        V::Date(y, mo, d, h, mi, s, us) => {
            let text = match kind {
                ColumnType::MYSQL_TYPE_DATE | ColumnType::MYSQL_TYPE_NEWDATE => {
                    format!("{y:04}-{mo:02}-{d:02}")
                }
                _ if us > 0 => format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{us:06}"),
                _ => format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}"),
            };
            JsString::from(text).into()
        }
        V::Time(neg, days, h, mi, s, us) => {
            let hours = days * 24 + u32::from(h);
            let sign = if neg { "-" } else { "" };
            let text = if us > 0 {
                format!("{sign}{hours:02}:{mi:02}:{s:02}.{us:06}")
            } else {
                format!("{sign}{hours:02}:{mi:02}:{s:02}")
            };
            JsString::from(text).into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_dsn_forms_read() {
        let o = parse_dsn("root:pw@tcp(127.0.0.1:3306)/test").unwrap();
        assert_eq!(o.get_ip_or_hostname(), "127.0.0.1");
        assert_eq!(o.get_tcp_port(), 3306);
        assert_eq!(o.get_user(), Some("root"));
        assert_eq!(o.get_pass(), Some("pw"));
        assert_eq!(o.get_db_name(), Some("test"));
        let o = parse_dsn("mysql://app:p%40ss@db.local:3307/shop?ssl=false").unwrap();
        assert_eq!(o.get_ip_or_hostname(), "db.local");
        assert_eq!(o.get_tcp_port(), 3307);
        assert_eq!(o.get_pass(), Some("p@ss"));
        assert_eq!(o.get_db_name(), Some("shop"));
        let o = parse_dsn("root@tcp(localhost)/").unwrap();
        assert_eq!(o.get_tcp_port(), 3306);
        assert_eq!(o.get_pass(), None);
    }

    #[test]
    fn bad_dsns_are_refused_without_the_password() {
        for bad in [
            "nonsense",
            "root:secret@127.0.0.1/db",
            "root:secret@tcp(host:notaport)/db",
        ] {
            let err = parse_dsn(bad).unwrap_err();
            assert!(!err.contains("secret"), "{err}");
            assert!(err.contains("not a MySQL DSN"), "{err}");
        }
    }

    #[test]
    fn column_values_map_to_js() {
        let v = sql_to_js(
            mysql::Value::Date(2024, 5, 6, 0, 0, 0, 0),
            ColumnType::MYSQL_TYPE_DATE,
        );
        assert_eq!(v.as_string().unwrap().to_std_string_lossy(), "2024-05-06");
        let v = sql_to_js(
            mysql::Value::Date(2024, 5, 6, 7, 8, 9, 0),
            ColumnType::MYSQL_TYPE_DATETIME,
        );
        assert_eq!(
            v.as_string().unwrap().to_std_string_lossy(),
            "2024-05-06T07:08:09"
        );
        let v = sql_to_js(
            mysql::Value::Time(false, 1, 2, 3, 4, 0),
            ColumnType::MYSQL_TYPE_TIME,
        );
        assert_eq!(v.as_string().unwrap().to_std_string_lossy(), "26:03:04");
        let v = sql_to_js(
            mysql::Value::Bytes(b"12.3400".to_vec()),
            ColumnType::MYSQL_TYPE_NEWDECIMAL,
        );
        assert_eq!(v.as_string().unwrap().to_std_string_lossy(), "12.3400");
        let v = sql_to_js(
            mysql::Value::Int((1 << 53) + 1),
            ColumnType::MYSQL_TYPE_LONGLONG,
        );
        assert_eq!(
            v.as_string().unwrap().to_std_string_lossy(),
            "9007199254740993"
        );
        let v = sql_to_js(
            mysql::Value::Int((1 << 53) - 1),
            ColumnType::MYSQL_TYPE_LONGLONG,
        );
        assert_eq!(v.as_number(), Some(9_007_199_254_740_991.0));
        let v = sql_to_js(
            mysql::Value::Bytes(b"9007199254740993".to_vec()),
            ColumnType::MYSQL_TYPE_LONGLONG,
        );
        assert_eq!(
            v.as_string().unwrap().to_std_string_lossy(),
            "9007199254740993"
        );
        let v = sql_to_js(
            mysql::Value::Bytes(b"1e300".to_vec()),
            ColumnType::MYSQL_TYPE_DOUBLE,
        );
        assert_eq!(v.as_number(), Some(1e300));
        let v = sql_to_js(mysql::Value::Int(1 << 60), ColumnType::MYSQL_TYPE_LONGLONG);
        assert_eq!(
            v.as_string().unwrap().to_std_string_lossy(),
            (1i64 << 60).to_string()
        );
        assert!(sql_to_js(mysql::Value::NULL, ColumnType::MYSQL_TYPE_LONG).is_null());
    }
}
