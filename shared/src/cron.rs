//! Cron schedules: reading a spec, and the fire times it gives in a time zone.
//!
//! # What a spec may be
//!
//! - six fields, seconds first: `second minute hour day-of-month month
//!   day-of-week` (`*/5 * * * * *`);
//! - five fields as in a crontab, minute first, read as second 0
//!   (`30 9 * * 1-5` is `0 30 9 * * 1-5`; a five-field spec is never shifted
//!   by one field);
//! - a name: `@yearly` (`@annually`), `@monthly`, `@weekly`, `@daily`
//!   (`@midnight`) or `@hourly`;
//! - `@every DURATION` (`@every 10s`, `@every 1m30s`): a fixed interval of
//!   whole seconds, counted from the Unix epoch so that every worker agrees on
//!   the ticks; the time zone does not change it.
//!
//! Each field is `*`, a value, a range `a-b`, a step `*/n`, `a-b/n` or `a/n`
//! (from `a` to the end of the field), or a comma list of those. Values mean
//! what they mean in standard cron: months 1-12 or `JAN`..`DEC`, days of the
//! week 0-7 where 0 and 7 are Sunday and 1 is Monday, or `SUN`..`SAT`. `?` is
//! read as `*` in the two day fields. As in crontab(5), when both day fields
//! are restricted (neither starts with `*`), a day matches when *either*
//! field matches.
//!
//! This module reads every field itself and hands the `cron` crate only
//! explicit value lists. That crate numbers the days of the week from
//! 1 = Sunday (Quartz style) and refuses 0, so the day-of-week values are
//! translated ([`quartz_days_of_week`]); its error texts never reach users.
//!
//! # Fire times and daylight saving time
//!
//! A spec describes wall-clock times in the job's zone (UTC when none is
//! given). Fire times are instants, whole seconds, derived like this:
//!
//! - a wall time that exists once fires at that instant;
//! - a wall time that does not exist (the clock jumps forward over it) fires
//!   once at the end of the jump, so a job set for 02:30 still runs on the
//!   day the clocks skip from 02:00 to 03:00, and an every-minute job goes on
//!   without a pause;
//! - a wall time that exists twice (the clock is set back) fires at its first
//!   occurrence; it fires at the second one too only when the spec's hour
//!   field is `*`-like (every hour), so a fixed-time job never runs twice and
//!   an every-minute job is not silenced for the repeated hour.
//!
//! Every search is bounded ([`MAX_STEPS`] candidate wall times) and the
//! `cron` crate stops at the year 2100, so computing a fire time always ends.

use std::str::FromStr;

use chrono::{
    DateTime, Duration as ChronoDuration, LocalResult, NaiveDateTime, Offset, TimeZone, Timelike,
    Utc,
};
use chrono_tz::Tz;

use crate::error::{Error, Result};

/// The most candidate wall times one search looks at before it gives up.
/// Far more than any real spec needs (a search crosses at most one repeated
/// hour of an every-second spec, 3,600 candidates), small enough that a
/// pathological one still answers in milliseconds.
pub const MAX_STEPS: usize = 20_000;

/// How far around an instant a search looks for a change of the zone's
/// offset. Longer than any repeated or skipped stretch of wall time in the
/// time-zone database (at most two hours) and shorter than the time between
/// two changes of one zone.
const SHIFT_WINDOW_SECS: i64 = 3 * 3600;

/// The shortest `@every` interval.
const MIN_EVERY_SECS: i64 = 1;

/// A parsed schedule in its time zone.
#[derive(Clone, Debug)]
pub struct Schedule {
    /// The spec as the user wrote it, trimmed.
    spec: String,
    /// The zone wall times are read in.
    zone: Tz,
    /// How fire times are found.
    rule: Rule,
}

#[derive(Clone, Debug)]
enum Rule {
    /// Wall-clock fields. One `cron` schedule, or two when both day fields
    /// are restricted (one per day field, matching either).
    Calendar {
        parts: Vec<cron::Schedule>,
        /// Whether the hour field allows every hour; see the module docs on
        /// repeated wall times.
        every_hour: bool,
    },
    /// `@every`: multiples of this many seconds since the Unix epoch.
    Every { secs: i64 },
}

/// One field's limits and names.
struct FieldDef {
    /// For messages: "second", "day of week", ...
    name: &'static str,
    min: u32,
    max: u32,
    /// Names accepted for values, lowercase, numbered from `min`.
    names: &'static [&'static str],
}

const SECOND: FieldDef = FieldDef {
    name: "second",
    min: 0,
    max: 59,
    names: &[],
};
const MINUTE: FieldDef = FieldDef {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
};
const HOUR: FieldDef = FieldDef {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
};
const DAY_OF_MONTH: FieldDef = FieldDef {
    name: "day of month",
    min: 1,
    max: 31,
    names: &[],
};
const MONTH: FieldDef = FieldDef {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
};
/// Standard cron numbering: 0 and 7 are Sunday.
const DAY_OF_WEEK: FieldDef = FieldDef {
    name: "day of week",
    min: 0,
    max: 7,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
};

/// One field, read.
struct Field {
    /// The values it allows, sorted, without duplicates (days of the week
    /// already folded: 7 became 0).
    values: Vec<u32>,
    /// Whether the text starts with `*` or is `?`: crontab(5)'s test for
    /// "unrestricted" day fields.
    star: bool,
}

impl Schedule {
    /// Reads `spec` in `zone` (an IANA name; UTC when `None`).
    ///
    /// The error names the spec and what is wrong with it; a spec that can
    /// never fire (`0 0 0 30 2 *`) is refused too.
    pub fn parse(spec: &str, zone: Option<&str>) -> Result<Schedule> {
        let zone = match zone {
            Some(z) => parse_zone(z)?,
            None => Tz::UTC,
        };
        let text = spec.trim();
        let rule = read_rule(text).map_err(|why| {
            Error::invalid(
                "job.schedule",
                format!("`{text}` is not a valid cron schedule: {why}"),
            )
        })?;
        let schedule = Schedule {
            spec: text.to_string(),
            zone,
            rule,
        };
        let now = Utc::now().timestamp_millis();
        if schedule.next_after(now).is_none() {
            return Err(Error::invalid(
                "job.schedule",
                format!("`{text}` is not a valid cron schedule: it never fires (no such date before 2100)"),
            ));
        }
        Ok(schedule)
    }

    /// The spec as given, trimmed.
    pub fn spec(&self) -> &str {
        &self.spec
    }

    /// The zone's IANA name.
    pub fn zone_name(&self) -> &'static str {
        self.zone.name()
    }

    /// The first fire time strictly after `t_ms` (Unix ms), or `None` when
    /// there is none before 2100 within the search bound.
    pub fn next_after(&self, t_ms: i64) -> Option<i64> {
        let t = t_ms.div_euclid(1000);
        let found = match &self.rule {
            Rule::Every { secs } => Some((t.div_euclid(*secs) + 1) * secs),
            Rule::Calendar { .. } => {
                // Wall times ahead of `t` are found by walking on from its
                // wall time. When the clock is about to be set back, the
                // repeated wall times lie behind that: walk them too, from
                // where the repetition starts.
                let here = self.offset_at(t);
                let ahead = self.offset_at(t + SHIFT_WINDOW_SECS);
                let mut best = self.scan_forward(t + i64::from(here), t);
                let setback = i64::from(here - ahead);
                if setback > 0 && self.offset_at(t + setback) != here {
                    let shift = self.shift_instant(t, t + setback);
                    best = min_some(best, self.scan_forward(shift + i64::from(ahead) - 1, t));
                }
                best
            }
        };
        found.map(|s| s * 1000)
    }

    /// The last fire time at or before `t_ms`, or `None`.
    pub fn latest_at_or_before(&self, t_ms: i64) -> Option<i64> {
        let t = t_ms.div_euclid(1000);
        let found = match &self.rule {
            Rule::Every { secs } => Some(t.div_euclid(*secs) * secs),
            Rule::Calendar { .. } => {
                // The mirror image: shortly after the clock was set back, the
                // first occurrences of the repeated wall times lie ahead of
                // the wall time of `t`.
                let here = self.offset_at(t);
                let behind = self.offset_at(t - SHIFT_WINDOW_SECS);
                let mut best = self.scan_backward(t + i64::from(here), t);
                let setback = i64::from(behind - here);
                if setback > 0 && self.offset_at(t - setback) != here {
                    let shift = self.shift_instant(t - setback, t);
                    best = max_some(best, self.scan_backward(shift + i64::from(behind) - 1, t));
                }
                best
            }
        };
        found.map(|s| s * 1000)
    }

    /// The last fire time strictly before `t_ms`.
    pub fn previous_before(&self, t_ms: i64) -> Option<i64> {
        self.latest_at_or_before(t_ms - 1)
    }

    /// The next `n` fire times after `t_ms`.
    pub fn upcoming(&self, t_ms: i64, n: usize) -> Vec<i64> {
        let mut out = Vec::with_capacity(n);
        let mut at = t_ms;
        while out.len() < n {
            match self.next_after(at) {
                Some(next) => {
                    out.push(next);
                    at = next;
                }
                None => break,
            }
        }
        out
    }

    /// How many fire times lie strictly between `after_ms` and `before_ms`,
    /// counting at most `cap` (the second value says whether it stopped
    /// there).
    pub fn count_between(&self, after_ms: i64, before_ms: i64, cap: u64) -> (u64, bool) {
        if let Rule::Every { secs } = self.rule {
            let first = after_ms.div_euclid(1000).div_euclid(secs) + 1;
            let last = (before_ms - 1).div_euclid(1000).div_euclid(secs);
            let n = (last - first + 1).max(0) as u64;
            return (n.min(cap), n > cap);
        }
        let mut n = 0;
        let mut at = after_ms;
        while let Some(next) = self.next_after(at) {
            if next >= before_ms {
                break;
            }
            if n == cap {
                return (n, true);
            }
            n += 1;
            at = next;
        }
        (n, false)
    }

    /// `t_ms` as a wall time in the schedule's zone, for people:
    /// `2024-03-31 03:00:00 CEST`.
    pub fn local_time(&self, t_ms: i64) -> String {
        match DateTime::<Utc>::from_timestamp_millis(t_ms) {
            Some(t) => t
                .with_timezone(&self.zone)
                .format("%Y-%m-%d %H:%M:%S %Z")
                .to_string(),
            None => "-".into(),
        }
    }

    /// The zone's offset from UTC at instant `t` (seconds), in seconds.
    fn offset_at(&self, t: i64) -> i32 {
        match DateTime::<Utc>::from_timestamp(t, 0) {
            Some(at) => self
                .zone
                .offset_from_utc_datetime(&at.naive_utc())
                .fix()
                .local_minus_utc(),
            None => 0,
        }
    }

    /// The first instant in `(lo, hi]` whose offset differs from the offset
    /// at `lo`: where the zone's clock changes. The caller knows the offsets
    /// at `lo` and `hi` differ and that the window holds one change.
    fn shift_instant(&self, mut lo: i64, mut hi: i64) -> i64 {
        let before = self.offset_at(lo);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if self.offset_at(mid) == before {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        hi
    }

    /// The first fire instant after `t`, walking wall times forward from
    /// (and not including) the wall time `from` (seconds, read as UTC).
    fn scan_forward(&self, from: i64, t: i64) -> Option<i64> {
        let Rule::Calendar { parts, every_hour } = &self.rule else {
            return None;
        };
        let mut wall = naive(from)?;
        for _ in 0..MAX_STEPS {
            wall = wall_after(parts, wall)?;
            let found = self
                .instants(wall, *every_hour)
                .into_iter()
                .flatten()
                .filter(|&i| i > t)
                .min();
            if found.is_some() {
                return found;
            }
        }
        None
    }

    /// The last fire instant at or before `t`, walking wall times backward
    /// from (and including) the wall time `from`.
    fn scan_backward(&self, from: i64, t: i64) -> Option<i64> {
        let Rule::Calendar { parts, every_hour } = &self.rule else {
            return None;
        };
        let mut wall = naive(from + 1)?;
        for _ in 0..MAX_STEPS {
            wall = wall_before(parts, wall)?;
            let found = self
                .instants(wall, *every_hour)
                .into_iter()
                .flatten()
                .filter(|&i| i <= t)
                .max();
            if found.is_some() {
                return found;
            }
        }
        None
    }

    /// The fire instants of one matching wall time (see the module docs).
    fn instants(&self, wall: NaiveDateTime, every_hour: bool) -> [Option<i64>; 2] {
        match self.zone.from_local_datetime(&wall) {
            LocalResult::Single(at) => [Some(at.timestamp()), None],
            LocalResult::Ambiguous(first, second) => [
                Some(first.timestamp()),
                every_hour.then(|| second.timestamp()),
            ],
            LocalResult::None => [self.end_of_gap(wall), None],
        }
    }

    /// The instant at which a skipped stretch of wall time containing `wall`
    /// ends: the first existing whole minute after it. Gaps in the database
    /// are at most a day long, which bounds the walk.
    fn end_of_gap(&self, wall: NaiveDateTime) -> Option<i64> {
        let minute = wall.with_second(0)?;
        for k in 1..=(48 * 60) {
            let candidate = minute + ChronoDuration::minutes(k);
            if let Some(at) = self.zone.from_local_datetime(&candidate).earliest() {
                return Some(at.timestamp());
            }
        }
        None
    }
}

/// Reads an IANA time-zone name.
pub fn parse_zone(name: &str) -> Result<Tz> {
    Tz::from_str(name.trim()).map_err(|_| {
        Error::invalid(
            "job.schedule",
            format!("`{name}` is not a time zone: use an IANA name such as `Europe/Berlin`, `America/New_York` or `UTC`"),
        )
    })
}

/// Seconds since the epoch as a naive date-time (wall time read as UTC).
fn naive(secs: i64) -> Option<NaiveDateTime> {
    DateTime::<Utc>::from_timestamp(secs, 0).map(|d| d.naive_utc())
}

/// The first wall time after `wall` that the fields allow.
fn wall_after(parts: &[cron::Schedule], wall: NaiveDateTime) -> Option<NaiveDateTime> {
    let from = Utc.from_utc_datetime(&wall);
    parts
        .iter()
        .filter_map(|p| p.after(&from).next())
        .min()
        .map(|d| d.naive_utc())
}

/// The last wall time before `wall` that the fields allow.
fn wall_before(parts: &[cron::Schedule], wall: NaiveDateTime) -> Option<NaiveDateTime> {
    let from = Utc.from_utc_datetime(&wall);
    parts
        .iter()
        .filter_map(|p| p.after(&from).next_back())
        .max()
        .map(|d| d.naive_utc())
}

fn min_some(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn max_some(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// The six-field form of a name, or `None` when `text` is not one.
fn named(text: &str) -> Option<&'static str> {
    Some(match text.to_ascii_lowercase().as_str() {
        "@yearly" | "@annually" => "0 0 0 1 1 *",
        "@monthly" => "0 0 0 1 * *",
        "@weekly" => "0 0 0 * * 0",
        "@daily" | "@midnight" => "0 0 0 * * *",
        "@hourly" => "0 0 * * * *",
        _ => return None,
    })
}

/// Reads a whole spec into a rule; the error is the reason, for a message
/// that quotes the spec.
fn read_rule(text: &str) -> std::result::Result<Rule, String> {
    if text.is_empty() {
        return Err("it is empty".into());
    }
    if text.len() >= 6 && text[..6].eq_ignore_ascii_case("@every") {
        return read_every(text[6..].trim());
    }
    let six: String;
    let fields: Vec<&str> = if text.starts_with('@') {
        six = named(text)
            .ok_or_else(|| {
                format!(
                    "`{text}` is not a schedule name; use @yearly, @annually, @monthly, @weekly, \
                     @daily, @midnight, @hourly or @every DURATION"
                )
            })?
            .to_string();
        six.split_whitespace().collect()
    } else {
        let given: Vec<&str> = text.split_whitespace().collect();
        match given.len() {
            6 => given,
            5 => std::iter::once("0").chain(given).collect(),
            n => {
                return Err(format!(
                    "it has {n} field{}; write six (second minute hour day-of-month month \
                     day-of-week), five as in a crontab (minute first), or a name such as @hourly",
                    if n == 1 { "" } else { "s" }
                ))
            }
        }
    };
    calendar(&fields)
}

fn read_every(rest: &str) -> std::result::Result<Rule, String> {
    if rest.is_empty() {
        return Err("@every needs a duration, such as `@every 10s`".into());
    }
    let d = humantime::parse_duration(rest)
        .map_err(|e| format!("`{rest}` is not a duration ({e}); write it as `10s` or `5m`"))?;
    if d.subsec_nanos() != 0 {
        return Err(format!(
            "@every takes whole seconds; `{rest}` has a fraction of a second"
        ));
    }
    let secs = i64::try_from(d.as_secs()).map_err(|_| format!("`{rest}` is too long"))?;
    if secs < MIN_EVERY_SECS {
        return Err("@every needs at least one second".into());
    }
    Ok(Rule::Every { secs })
}

/// Builds the calendar rule from six fields.
fn calendar(fields: &[&str]) -> std::result::Result<Rule, String> {
    let second = read_field(fields[0], &SECOND)?;
    let minute = read_field(fields[1], &MINUTE)?;
    let hour = read_field(fields[2], &HOUR)?;
    let dom = read_field(fields[3], &DAY_OF_MONTH)?;
    let month = read_field(fields[4], &MONTH)?;
    let dow = read_field(fields[5], &DAY_OF_WEEK)?;

    let head = format!(
        "{} {} {}",
        list(&second.values, &SECOND),
        list(&minute.values, &MINUTE),
        list(&hour.values, &HOUR)
    );
    let months = list(&month.values, &MONTH);
    let days = list(&dom.values, &DAY_OF_MONTH);
    let weekdays = quartz_list(&dow.values);
    let exprs = if !dom.star && !dow.star {
        // crontab(5): both restricted, so either one matching is enough.
        vec![
            format!("{head} {days} {months} *"),
            format!("{head} * {months} {weekdays}"),
        ]
    } else {
        vec![format!("{head} {days} {months} {weekdays}")]
    };
    let mut parts = Vec::with_capacity(exprs.len());
    for e in &exprs {
        parts.push(
            cron::Schedule::from_str(e)
                .map_err(|err| format!("internal translation `{e}` was refused ({err})"))?,
        );
    }
    Ok(Rule::Calendar {
        parts,
        every_hour: hour.values.len() == 24,
    })
}

/// Writes values as the `cron` crate reads them: `*` when the field allows
/// everything, else a comma list.
fn list(values: &[u32], def: &FieldDef) -> String {
    if values.len() as u32 == def.max - def.min + 1 {
        return "*".into();
    }
    join(values.iter().copied())
}

fn join(values: impl Iterator<Item = u32>) -> String {
    values.map(|v| v.to_string()).collect::<Vec<_>>().join(",")
}

/// Standard day-of-week values (0 = Sunday .. 6 = Saturday, 7 already folded
/// to 0) as the `cron` crate's list (1 = Sunday .. 7 = Saturday).
fn quartz_list(values: &[u32]) -> String {
    if values.len() == 7 {
        return "*".into();
    }
    let mut q: Vec<u32> = values.iter().map(|v| v + 1).collect();
    q.sort_unstable();
    join(q.into_iter())
}

/// Translates a standard-cron day-of-week field (`0`, `7`, `1-5`, `*/2`,
/// `MON-FRI`, `5-7`, ...) into the `cron` crate's numbering (1 = Sunday):
/// the value list it must be given, or `*` for every day.
pub fn quartz_days_of_week(field: &str) -> std::result::Result<String, String> {
    read_field(field, &DAY_OF_WEEK).map(|f| quartz_list(&f.values))
}

/// Reads one field into the set of values it allows.
fn read_field(text: &str, def: &FieldDef) -> std::result::Result<Field, String> {
    let star = text.starts_with('*') || text == "?";
    let mut seen = vec![false; def.max as usize + 1];
    for item in text.split(',') {
        for v in read_item(item, def)? {
            seen[v as usize] = true;
        }
    }
    if def.name == DAY_OF_WEEK.name && seen[7] {
        // 7 is Sunday, like 0.
        seen[7] = false;
        seen[0] = true;
    }
    let values = seen
        .iter()
        .enumerate()
        .filter(|(_, &on)| on)
        .map(|(v, _)| v as u32)
        .collect();
    Ok(Field { values, star })
}

/// One comma-separated item: `*`, `?`, `v`, `a-b`, any of those with `/step`.
fn read_item(item: &str, def: &FieldDef) -> std::result::Result<Vec<u32>, String> {
    let name = def.name;
    if item.is_empty() {
        return Err(format!("the {name} field has an empty list item"));
    }
    let (base, step) = match item.split_once('/') {
        Some((b, s)) => {
            let step: u32 = s
                .parse()
                .map_err(|_| format!("the {name} step `{s}` in `{item}` is not a number"))?;
            let span = def.max - def.min + 1;
            if step == 0 || step > span {
                return Err(format!(
                    "the {name} step in `{item}` must be between 1 and {span}"
                ));
            }
            (b, Some(step))
        }
        None => (item, None),
    };
    let day_field = name == DAY_OF_MONTH.name || name == DAY_OF_WEEK.name;
    // `*` covers the whole field; for days of the week that is 0-7, as in
    // cronie, so `*/7` means Sunday.
    let (lo, hi) = if base == "*" || (base == "?" && day_field) {
        (def.min, def.max)
    } else if let Some((a, b)) = base.split_once('-') {
        let a = value(a, def, item)?;
        let b = value(b, def, item)?;
        if a > b {
            return Err(format!(
                "the {name} range `{base}` runs backwards; write the smaller value first"
            ));
        }
        (a, b)
    } else {
        let v = value(base, def, item)?;
        match step {
            // `a/n`: from a to the end of the field.
            Some(_) => (v, def.max),
            None => (v, v),
        }
    };
    let step = step.unwrap_or(1) as usize;
    Ok((lo..=hi).step_by(step).collect())
}

/// One value: a number in range or a name.
fn value(text: &str, def: &FieldDef, item: &str) -> std::result::Result<u32, String> {
    let name = def.name;
    if let Ok(n) = text.parse::<u32>() {
        if n < def.min || n > def.max {
            return Err(format!(
                "{name} value {n} is out of range {}-{}",
                def.min, def.max
            ));
        }
        return Ok(n);
    }
    let lower = text.to_ascii_lowercase();
    if let Some(i) = def.names.iter().position(|n| *n == lower) {
        return Ok(def.min + i as u32);
    }
    if def.names.is_empty() {
        Err(format!(
            "`{text}` in `{item}` is not a {name} (use {}-{})",
            def.min, def.max
        ))
    } else {
        Err(format!(
            "`{text}` in `{item}` is not a {name} (use {}-{} or {})",
            def.min,
            def.max,
            def.names
                .iter()
                .map(|n| n.to_ascii_uppercase())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, Weekday};

    /// Unix ms of a UTC date-time.
    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> i64 {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s)
            .unwrap()
            .timestamp_millis()
    }

    fn weekday(ms: i64, zone: Tz) -> Weekday {
        DateTime::<Utc>::from_timestamp_millis(ms)
            .unwrap()
            .with_timezone(&zone)
            .weekday()
    }

    fn hour(ms: i64, zone: Tz) -> u32 {
        DateTime::<Utc>::from_timestamp_millis(ms)
            .unwrap()
            .with_timezone(&zone)
            .hour()
    }

    #[test]
    fn day_of_week_numbers_are_translated_to_the_crates_numbering() {
        let cases = [
            ("0", "1"),
            ("7", "1"),
            ("0,7", "1"),
            ("1", "2"),
            ("6", "7"),
            ("1-5", "2,3,4,5,6"),
            ("5-7", "1,6,7"),
            ("0-6", "*"),
            ("0-7", "*"),
            ("*", "*"),
            ("?", "*"),
            ("*/2", "1,3,5,7"),
            ("*/3", "1,4,7"),
            ("*/7", "1"),
            ("1-5/2", "2,4,6"),
            ("1/2", "1,2,4,6"),
            ("SUN", "1"),
            ("sun", "1"),
            ("Mon", "2"),
            ("SAT", "7"),
            ("MON-FRI", "2,3,4,5,6"),
            ("sat,sun", "1,7"),
            ("mon-wed,fri", "2,3,4,6"),
            ("1,3,5", "2,4,6"),
            ("6,0", "1,7"),
        ];
        for (standard, quartz) in cases {
            assert_eq!(
                quartz_days_of_week(standard).unwrap(),
                quartz,
                "day of week `{standard}`"
            );
        }
    }

    #[test]
    fn bad_day_of_week_fields_are_refused_with_the_reason() {
        for (bad, says) in [
            ("8", "out of range 0-7"),
            ("5-2", "runs backwards"),
            ("*/0", "between 1 and 8"),
            ("funday", "SUN, MON"),
            ("1,,2", "empty list item"),
            ("L", "not a day of week"),
            ("1#2", "not a day of week"),
        ] {
            let err = quartz_days_of_week(bad).unwrap_err();
            assert!(err.contains(says), "`{bad}`: {err}");
        }
    }

    #[test]
    fn invalid_specs_are_refused_with_the_spec_and_the_reason() {
        for (bad, says) in [
            ("* * *", "has 3 fields"),
            ("61 * * * * *", "second value 61 is out of range 0-59"),
            ("@sometimes", "`@sometimes` is not a schedule name"),
            ("", "empty"),
            ("* * * * * * 2030", "has 7 fields"),
            ("0 0 24 * * *", "hour value 24"),
            ("0 0 0 0 * *", "day of month value 0"),
            ("0 0 0 1 13 *", "month value 13"),
            ("0 0 0 1 foo *", "`foo` in `foo` is not a month"),
            ("0 0 0 30 2 *", "never fires"),
            ("@every", "needs a duration"),
            ("@every 1500ms", "whole seconds"),
            ("@every soon", "not a duration"),
        ] {
            let err = Schedule::parse(bad, None).unwrap_err();
            assert!(
                err.message.contains(says) && err.message.contains(&format!("`{}`", bad.trim())),
                "`{bad}`: {}",
                err.message
            );
        }
        let err = Schedule::parse("* * * * * *", Some("Mars/Olympus")).unwrap_err();
        assert!(err.message.contains("`Mars/Olympus` is not a time zone"));
    }

    #[test]
    fn six_fields_start_with_seconds_and_five_fields_with_minutes() {
        let t = utc(2024, 1, 10, 12, 0, 0);
        let six = Schedule::parse("30 * * * * *", None).unwrap();
        assert_eq!(six.next_after(t), Some(utc(2024, 1, 10, 12, 0, 30)));
        // Five fields: minute 30 of every hour, at second 0; not shifted.
        let five = Schedule::parse("30 * * * *", None).unwrap();
        assert_eq!(five.next_after(t), Some(utc(2024, 1, 10, 12, 30, 0)));
        let five = Schedule::parse("0 9 * * 1-5", None).unwrap();
        assert_eq!(five.next_after(t), Some(utc(2024, 1, 11, 9, 0, 0)));
    }

    #[test]
    fn names_mean_what_they_mean_in_cron() {
        let t = utc(2024, 5, 15, 10, 20, 30); // a Wednesday
        let cases = [
            ("@hourly", utc(2024, 5, 15, 11, 0, 0)),
            ("@daily", utc(2024, 5, 16, 0, 0, 0)),
            ("@midnight", utc(2024, 5, 16, 0, 0, 0)),
            ("@weekly", utc(2024, 5, 19, 0, 0, 0)),
            ("@monthly", utc(2024, 6, 1, 0, 0, 0)),
            ("@yearly", utc(2025, 1, 1, 0, 0, 0)),
            ("@annually", utc(2025, 1, 1, 0, 0, 0)),
            ("@every 10s", utc(2024, 5, 15, 10, 20, 40)),
            ("@every 1m", utc(2024, 5, 15, 10, 21, 0)),
        ];
        for (spec, next) in cases {
            let s = Schedule::parse(spec, None).unwrap();
            assert_eq!(s.next_after(t), Some(next), "{spec}");
        }
    }

    #[test]
    fn sunday_is_0_7_and_sun() {
        let t = utc(2024, 5, 15, 10, 0, 0);
        for spec in ["0 0 9 * * 0", "0 0 9 * * 7", "0 0 9 * * SUN", "0 9 * * 0"] {
            let s = Schedule::parse(spec, None).unwrap();
            let fires = s.upcoming(t, 6);
            assert_eq!(fires.len(), 6);
            for f in &fires {
                assert_eq!(weekday(*f, Tz::UTC), Weekday::Sun, "{spec}");
                assert_eq!(hour(*f, Tz::UTC), 9);
            }
            assert_eq!(fires[0], utc(2024, 5, 19, 9, 0, 0), "{spec}");
            assert_eq!(fires[1] - fires[0], 7 * 86_400_000);
        }
    }

    #[test]
    fn weekdays_only_fire_monday_to_friday() {
        let s = Schedule::parse("0 0 17 * * 1-5", None).unwrap();
        let fires = s.upcoming(utc(2024, 5, 15, 10, 0, 0), 20);
        let days: Vec<Weekday> = fires.iter().map(|f| weekday(*f, Tz::UTC)).collect();
        assert_eq!(
            &days[..7],
            &[
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu
            ]
        );
        assert!(days
            .iter()
            .all(|d| !matches!(d, Weekday::Sat | Weekday::Sun)));
        let named = Schedule::parse("0 0 17 * * MON-FRI", None).unwrap();
        assert_eq!(named.upcoming(utc(2024, 5, 15, 10, 0, 0), 20), fires);
    }

    #[test]
    fn both_day_fields_restricted_match_either() {
        // The 13th, and every Friday, as crontab(5) reads it.
        let s = Schedule::parse("0 0 0 13 * 5", None).unwrap();
        let fires = s.upcoming(utc(2024, 9, 1, 0, 0, 0), 6);
        let expected = [
            utc(2024, 9, 6, 0, 0, 0),
            utc(2024, 9, 13, 0, 0, 0),
            utc(2024, 9, 20, 0, 0, 0),
            utc(2024, 9, 27, 0, 0, 0),
            utc(2024, 10, 4, 0, 0, 0),
            utc(2024, 10, 11, 0, 0, 0),
        ];
        assert_eq!(fires, expected);
        // A starred day-of-week keeps the day of month alone.
        let s = Schedule::parse("0 0 0 13 * *", None).unwrap();
        assert_eq!(
            s.next_after(utc(2024, 9, 1, 0, 0, 0)),
            Some(utc(2024, 9, 13, 0, 0, 0))
        );
    }

    #[test]
    fn previous_and_next_agree() {
        let s = Schedule::parse("*/15 * * * * *", None).unwrap();
        let t = utc(2024, 1, 1, 0, 0, 7) + 250;
        assert_eq!(s.latest_at_or_before(t), Some(utc(2024, 1, 1, 0, 0, 0)));
        assert_eq!(s.next_after(t), Some(utc(2024, 1, 1, 0, 0, 15)));
        let exact = utc(2024, 1, 1, 0, 0, 15);
        assert_eq!(s.latest_at_or_before(exact), Some(exact));
        assert_eq!(s.previous_before(exact), Some(utc(2024, 1, 1, 0, 0, 0)));
        assert_eq!(s.next_after(exact), Some(utc(2024, 1, 1, 0, 0, 30)));
        assert_eq!(
            s.count_between(utc(2024, 1, 1, 0, 0, 0), utc(2024, 1, 1, 0, 1, 0), 100),
            (3, false)
        );
        assert_eq!(
            s.count_between(utc(2024, 1, 1, 0, 0, 0), utc(2024, 1, 1, 1, 0, 0), 10),
            (10, true)
        );
        let every = Schedule::parse("@every 10s", None).unwrap();
        assert_eq!(
            every.count_between(utc(2024, 1, 1, 0, 0, 0), utc(2024, 1, 1, 0, 1, 0), 100),
            (5, false)
        );
    }

    /// Every fire time in `[from, to)` (seconds) by brute force: the
    /// definition in the module docs applied to each second.
    fn reference(spec: &str, zone: Tz, from: i64, to: i64) -> Vec<i64> {
        let s = Schedule::parse(spec, Some(zone.name())).unwrap();
        let Rule::Calendar { parts, every_hour } = &s.rule else {
            unreachable!()
        };
        let matches = |wall: NaiveDateTime| {
            parts
                .iter()
                .any(|p| p.includes(Utc.from_utc_datetime(&wall)))
        };
        let mut out = std::collections::BTreeSet::new();
        for t in from..to {
            let wall = naive(t + i64::from(s.offset_at(t))).unwrap();
            if matches(wall) {
                let first = zone
                    .from_local_datetime(&wall)
                    .earliest()
                    .unwrap()
                    .timestamp();
                if first == t || *every_hour {
                    out.insert(t);
                }
            }
        }
        // Skipped wall times fire at the end of the jump.
        let mut t = from;
        while t < to {
            let before = s.offset_at(t);
            let after = s.offset_at(t + 1);
            if after > before {
                let end = t + 1;
                let mut wall = naive(end + i64::from(before)).unwrap();
                let stop = naive(end + i64::from(after)).unwrap();
                while wall < stop {
                    if matches(wall) {
                        out.insert(end);
                    }
                    wall += ChronoDuration::seconds(1);
                }
            }
            t += 1;
        }
        out.into_iter().filter(|&t| t >= from && t < to).collect()
    }

    /// Checks `next_after` and `latest_at_or_before` against the brute force
    /// over a window, from every second of it.
    fn check_against_reference(spec: &str, zone: &str, from: i64, to: i64) {
        let tz: Tz = zone.parse().unwrap();
        let want = reference(spec, tz, from, to);
        let s = Schedule::parse(spec, Some(zone)).unwrap();
        let mut chained = Vec::new();
        let mut at = (from - 1) * 1000;
        while let Some(next) = s.next_after(at) {
            if next >= to * 1000 {
                break;
            }
            chained.push(next / 1000);
            at = next;
        }
        assert_eq!(chained, want, "{spec} in {zone}: chained next_after");
        for t in (from..to).step_by(7) {
            let next = want.iter().find(|&&f| f > t).copied();
            if let Some(n) = next {
                assert_eq!(
                    s.next_after(t * 1000 + 500),
                    Some(n * 1000),
                    "{spec} next after {t}"
                );
            }
            let prev = want.iter().rev().find(|&&f| f <= t).copied();
            if let Some(p) = prev {
                assert_eq!(
                    s.latest_at_or_before(t * 1000 + 500),
                    Some(p * 1000),
                    "{spec} latest at or before {t}"
                );
            }
        }
    }

    #[test]
    fn berlin_spring_forward_keeps_every_minute_and_runs_fixed_times_once() {
        // 2024-03-31: 02:00 CET becomes 03:00 CEST at 01:00 UTC.
        let from = utc(2024, 3, 30, 23, 0, 0) / 1000;
        let to = utc(2024, 3, 31, 3, 0, 0) / 1000;
        for spec in [
            "* * * * * *",
            "0 * * * * *",
            "0 */15 * * * *",
            "0 30 2 * * *",
            "0 0 2 * * *",
            "0 59 1 * * *",
            "0 0 3 * * *",
            "@hourly",
            "0 * 2 * * *",
        ] {
            check_against_reference(spec, "Europe/Berlin", from, to);
        }

        let zone = "Europe/Berlin";
        let minute = Schedule::parse("0 * * * * *", Some(zone)).unwrap();
        let fires = minute.upcoming(utc(2024, 3, 31, 0, 30, 0), 60);
        for pair in fires.windows(2) {
            assert_eq!(pair[1] - pair[0], 60_000, "no pause across the jump");
        }

        // 02:30 does not exist that day: it runs once, at 03:00 CEST.
        let fixed = Schedule::parse("0 30 2 * * *", Some(zone)).unwrap();
        let fires = fixed.upcoming(utc(2024, 3, 30, 12, 0, 0), 2);
        assert_eq!(fires[0], utc(2024, 3, 31, 1, 0, 0));
        assert_eq!(fixed.local_time(fires[0]), "2024-03-31 03:00:00 CEST");
        assert_eq!(fires[1], utc(2024, 4, 1, 0, 30, 0));
    }

    #[test]
    fn berlin_fall_back_repeats_every_minute_but_not_fixed_times() {
        // 2024-10-27: 03:00 CEST becomes 02:00 CET at 01:00 UTC.
        let from = utc(2024, 10, 26, 22, 30, 0) / 1000;
        let to = utc(2024, 10, 27, 3, 0, 0) / 1000;
        for spec in [
            "* * * * * *",
            "0 * * * * *",
            "0 */15 * * * *",
            "0 30 2 * * *",
            "0 0 2 * * *",
            "0 0 3 * * *",
            "@hourly",
            "0 * 2 * * *",
        ] {
            check_against_reference(spec, "Europe/Berlin", from, to);
        }

        let zone = "Europe/Berlin";
        let minute = Schedule::parse("0 * * * * *", Some(zone)).unwrap();
        let fires = minute.upcoming(utc(2024, 10, 26, 23, 30, 0), 150);
        for pair in fires.windows(2) {
            assert_eq!(pair[1] - pair[0], 60_000, "no silent hour");
        }

        let fixed = Schedule::parse("0 30 2 * * *", Some(zone)).unwrap();
        let fires = fixed.upcoming(utc(2024, 10, 26, 12, 0, 0), 2);
        assert_eq!(fires[0], utc(2024, 10, 27, 0, 30, 0));
        assert_eq!(fixed.local_time(fires[0]), "2024-10-27 02:30:00 CEST");
        assert_eq!(
            fires[1],
            utc(2024, 10, 28, 1, 30, 0),
            "not again at 02:30 CET"
        );

        // From inside the repeated hour the next fire is still in the future.
        for t in [utc(2024, 10, 27, 0, 45, 0), utc(2024, 10, 27, 1, 15, 0)] {
            let next = fixed.next_after(t).unwrap();
            assert!(next > t);
            assert_eq!(next, utc(2024, 10, 28, 1, 30, 0));
        }
    }

    #[test]
    fn new_york_transitions_agree_with_the_brute_force() {
        // 2024-03-10 02:00 EST -> 03:00 EDT; 2024-11-03 02:00 EDT -> 01:00 EST.
        for (from, to) in [
            (utc(2024, 3, 10, 5, 0, 0), utc(2024, 3, 10, 9, 0, 0)),
            (utc(2024, 11, 3, 4, 0, 0), utc(2024, 11, 3, 8, 0, 0)),
        ] {
            for spec in ["0 * * * * *", "0 30 1 * * *", "0 30 2 * * *", "0 0 * * * *"] {
                check_against_reference(spec, "America/New_York", from / 1000, to / 1000);
            }
        }
    }

    #[test]
    fn a_half_hour_shift_agrees_with_the_brute_force() {
        // Lord Howe Island sets its clock back by 30 minutes at 02:00 local
        // (15:00 UTC) on 2024-04-06, and forward again on 2024-10-06.
        for (from, to) in [
            (utc(2024, 4, 6, 13, 0, 0), utc(2024, 4, 6, 17, 0, 0)),
            (utc(2024, 10, 5, 14, 0, 0), utc(2024, 10, 5, 17, 0, 0)),
        ] {
            for spec in [
                "0 * * * * *",
                "0 45 1 * * *",
                "0 15 2 * * *",
                "*/20 * * * * *",
            ] {
                check_against_reference(spec, "Australia/Lord_Howe", from / 1000, to / 1000);
            }
        }
    }

    #[test]
    fn a_time_zone_moves_the_wall_clock() {
        let s = Schedule::parse("0 0 9 * * *", Some("Europe/Berlin")).unwrap();
        assert_eq!(
            s.next_after(utc(2024, 1, 10, 0, 0, 0)),
            Some(utc(2024, 1, 10, 8, 0, 0))
        );
        assert_eq!(
            s.next_after(utc(2024, 7, 10, 0, 0, 0)),
            Some(utc(2024, 7, 10, 7, 0, 0))
        );
        assert_eq!(s.zone_name(), "Europe/Berlin");
    }

    #[test]
    fn searches_end_and_land_in_the_future() {
        let t = utc(2024, 2, 1, 0, 0, 0);
        // Rare dates: the 29th of February on a Monday (2044 is the next).
        let rare = Schedule::parse("0 0 0 29 2 1", None).unwrap();
        // Both day fields are restricted, so this is "the 29th of February
        // or any Monday in February".
        let next = rare.next_after(t).unwrap();
        assert!(next > t);
        let leap = Schedule::parse("0 0 0 29 2 *", None).unwrap();
        assert_eq!(leap.next_after(t), Some(utc(2024, 2, 29, 0, 0, 0)));
        assert_eq!(
            leap.next_after(utc(2024, 2, 29, 0, 0, 0)),
            Some(utc(2028, 2, 29, 0, 0, 0))
        );
        // Beyond the crate's last year nothing fires, and the search says so.
        assert_eq!(leap.next_after(utc(2096, 3, 1, 0, 0, 0)), None);
    }
}
