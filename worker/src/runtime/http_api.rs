//! `http.Get/Post/PostForm/Put/Delete/Head`.
//!
//! Every call returns `{body, headers, status}` (`Head`: `{headers,
//! status}`), whatever the status code: a 404 is an answer, not an error.
//! `status` is a number, `body` a string, and `headers` maps each header
//! name, in its canonical form (`Content-Type`), to the list of its values
//! in the order received (two `Set-Cookie` headers give a list of two). A
//! transport failure (an invalid URL, a refused connection, a time-out, too
//! many redirects, a body over the size cap) returns `{error: "..."}`
//! instead, an object with no other key; no call throws for those, so a
//! script checks `r.error` first. Only mistakes in the call itself (no URL,
//! a form that is not an object) throw a `TypeError`.
//!
//! Calls time out after `--http-timeout` (30 s by default, for the whole
//! call from connecting to the last body byte), follow up to ten redirects
//! (an eleventh gives `{error}`, so a redirect loop ends), and read at most
//! `--http-max-body` bytes of body (10 MiB by default): a longer body gives
//! `{error}`, never a truncated success, whether or not the server said its
//! length up front. A stop cuts a pending call short like any other API
//! call. `Post` and `Put` send a string body as `text/plain;
//! charset=utf-8` and any other value as JSON (`application/json`);
//! `PostForm` sends an object as `application/x-www-form-urlencoded`, an
//! array value repeating its key. Bodies are read as UTF-8, bytes that are
//! not UTF-8 replaced by U+FFFD, so binary bodies are lossy.

use std::time::Duration;

use boa_engine::object::builtins::JsArray;
use boa_engine::object::ObjectInitializer;
use boa_engine::property::Attribute;
use boa_engine::{js_string, Context, JsObject, JsResult, JsString, JsValue, NativeFunction};

use super::{host, string_arg, type_error};

/// Limits of scripts' HTTP calls.
#[derive(Clone, Copy, Debug)]
pub struct HttpLimits {
    /// Time for a whole call, connect to last byte.
    pub timeout: Duration,
    /// The most body bytes read.
    pub max_body: usize,
}

impl Default for HttpLimits {
    fn default() -> HttpLimits {
        HttpLimits {
            timeout: Duration::from_secs(30),
            max_body: 10 * 1024 * 1024,
        }
    }
}

/// The most redirects one call follows.
pub const MAX_REDIRECTS: usize = 10;

/// Builds the worker's HTTP client.
pub fn client(limits: &HttpLimits) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(limits.timeout)
        .connect_timeout(limits.timeout.min(Duration::from_secs(10)))
        .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS))
        .user_agent(concat!("hats-worker/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// Registers `http`.
pub fn register(ctx: &mut Context) -> JsResult<()> {
    let http = ObjectInitializer::new(ctx)
        .function(NativeFunction::from_fn_ptr(get), js_string!("Get"), 1)
        .function(NativeFunction::from_fn_ptr(post), js_string!("Post"), 2)
        .function(
            NativeFunction::from_fn_ptr(post_form),
            js_string!("PostForm"),
            2,
        )
        .function(NativeFunction::from_fn_ptr(put), js_string!("Put"), 2)
        .function(NativeFunction::from_fn_ptr(delete), js_string!("Delete"), 1)
        .function(NativeFunction::from_fn_ptr(head), js_string!("Head"), 1)
        .build();
    ctx.register_global_property(js_string!("http"), http, Attribute::all())?;
    Ok(())
}

/// What a request carries.
enum Body {
    None,
    Text(String),
    Json(String),
    Form(Vec<(String, String)>),
}

/// What came back, before conversion to JS.
struct Reply {
    status: u16,
    headers: Vec<(String, Vec<String>)>,
    body: Option<String>,
}

fn get(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    request("http.Get", reqwest::Method::GET, args, false, ctx)
}

fn delete(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    request("http.Delete", reqwest::Method::DELETE, args, false, ctx)
}

fn head(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    request("http.Head", reqwest::Method::HEAD, args, false, ctx)
}

fn post(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    request("http.Post", reqwest::Method::POST, args, true, ctx)
}

fn put(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    request("http.Put", reqwest::Method::PUT, args, true, ctx)
}

fn post_form(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let h = host(ctx)?;
    h.guard()?;
    let url = string_arg("http.PostForm", args, 0, ctx)?;
    let mut pairs = Vec::new();
    match args.get(1) {
        None => {}
        Some(v) if v.is_null_or_undefined() => {}
        Some(v) => {
            let Some(object) = v.as_object() else {
                return Err(type_error(
                    "http.PostForm",
                    "the form must be an object of field names to values",
                ));
            };
            for key in object.own_property_keys(ctx)? {
                // Symbol keys are no field names.
                if matches!(key, boa_engine::property::PropertyKey::Symbol(_)) {
                    continue;
                }
                let name = key.to_string();
                let value = object.get(key, ctx)?;
                if let Some(array) = value.as_object().filter(|o| o.is_array()) {
                    let array = JsArray::from_object(array.clone())?;
                    for i in 0..array.length(ctx)? {
                        let item = array.get(i, ctx)?;
                        pairs.push((name.clone(), item.to_string(ctx)?.to_std_string_lossy()));
                    }
                } else if !value.is_undefined() {
                    pairs.push((name, value.to_string(ctx)?.to_std_string_lossy()));
                }
            }
        }
    }
    send(reqwest::Method::POST, url, Body::Form(pairs), ctx)
}

fn request(
    function: &str,
    method: reqwest::Method,
    args: &[JsValue],
    with_body: bool,
    ctx: &mut Context,
) -> JsResult<JsValue> {
    host(ctx)?.guard()?;
    let url = string_arg(function, args, 0, ctx)?;
    let body = match args.get(1) {
        Some(v) if with_body && !v.is_null_or_undefined() => match v.as_string() {
            Some(s) => Body::Text(s.to_std_string_lossy()),
            None => match v.to_json(ctx)? {
                Some(json) => Body::Json(json.to_string()),
                None => Body::None,
            },
        },
        _ => Body::None,
    };
    send(method, url, body, ctx)
}

fn send(method: reqwest::Method, url: String, body: Body, ctx: &mut Context) -> JsResult<JsValue> {
    let h = host(ctx)?;
    let shared = h.shared.clone();
    let is_head = method == reqwest::Method::HEAD;
    let result = h.wait(async move {
        let limits = shared.http_limits;
        let client = shared.http_client();
        let mut req = client.request(method, &url);
        req = match body {
            Body::None => req,
            Body::Text(t) => req
                .header("Content-Type", "text/plain; charset=utf-8")
                .body(t),
            Body::Json(j) => req.header("Content-Type", "application/json").body(j),
            Body::Form(pairs) => {
                let encoded = form_encode(&pairs);
                req.header("Content-Type", "application/x-www-form-urlencoded")
                    .body(encoded)
            }
        };
        let mut resp = req.send().await.map_err(|e| transport_error(&url, &e))?;
        let status = resp.status().as_u16();
        let mut headers: Vec<(String, Vec<String>)> = Vec::new();
        for (name, value) in resp.headers() {
            let name = canonical(name.as_str());
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            match headers.iter_mut().find(|(n, _)| *n == name) {
                Some((_, values)) => values.push(value),
                None => headers.push((name, vec![value])),
            }
        }
        if is_head {
            return Ok(Reply {
                status,
                headers,
                body: None,
            });
        }
        if resp
            .content_length()
            .is_some_and(|n| n as usize > limits.max_body)
        {
            return Err(format!(
                "the response body of {url} is over the {} byte limit",
                limits.max_body
            ));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| transport_error(&url, &e))? {
            if bytes.len() + chunk.len() > limits.max_body {
                return Err(format!(
                    "the response body of {url} is over the {} byte limit",
                    limits.max_body
                ));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Reply {
            status,
            headers,
            body: Some(String::from_utf8_lossy(&bytes).into_owned()),
        })
    })?;
    match result {
        Ok(reply) => reply_object(reply, ctx),
        Err(error) => {
            let object = JsObject::with_object_proto(ctx.intrinsics());
            object.set(js_string!("error"), JsString::from(error), false, ctx)?;
            Ok(object.into())
        }
    }
}

fn reply_object(reply: Reply, ctx: &mut Context) -> JsResult<JsValue> {
    let headers = JsObject::with_object_proto(ctx.intrinsics());
    for (name, values) in reply.headers {
        let values: Vec<JsValue> = values
            .into_iter()
            .map(|v| JsString::from(v).into())
            .collect();
        let array = JsArray::from_iter(values, ctx);
        headers.set(JsString::from(name), array, false, ctx)?;
    }
    let object = JsObject::with_object_proto(ctx.intrinsics());
    if let Some(body) = reply.body {
        object.set(js_string!("body"), JsString::from(body), false, ctx)?;
    }
    object.set(js_string!("headers"), headers, false, ctx)?;
    object.set(js_string!("status"), reply.status as f64, false, ctx)?;
    Ok(object.into())
}

/// `content-type` as `Content-Type`.
fn canonical(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => {
                    first.to_ascii_uppercase().to_string() + &chars.as_str().to_ascii_lowercase()
                }
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// `application/x-www-form-urlencoded` text of `pairs`.
fn form_encode(pairs: &[(String, String)]) -> String {
    fn encode(s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                    out.push(b as char)
                }
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
        out
    }
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The text of a failed call: what failed and where.
fn transport_error(url: &str, e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_redirect() {
        format!("followed more than {MAX_REDIRECTS} redirects")
    } else if e.is_connect() {
        "could not connect".to_string()
    } else if e.is_builder() {
        "is not a valid URL".to_string()
    } else {
        "failed".to_string()
    };
    let mut detail = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        format!("request to {url} {what}")
    } else {
        format!("request to {url} {what}: {detail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_are_canonical() {
        assert_eq!(canonical("content-type"), "Content-Type");
        assert_eq!(canonical("x-request-id"), "X-Request-Id");
        assert_eq!(canonical("etag"), "Etag");
    }

    #[test]
    fn forms_are_encoded() {
        let pairs = vec![
            ("a b".to_string(), "x&y=z".to_string()),
            ("k".into(), "é".into()),
        ];
        assert_eq!(form_encode(&pairs), "a+b=x%26y%3Dz&k=%C3%A9");
    }
}
