//! When drift is checked: EventBridge's schedule expressions, `rate(6 hours)` and
//! `cron(0 6 * * ? *)`, read the way EventBridge reads them, evaluated in UTC.
//!
//! Cron expressions are evaluated with `croner`, which only the function's build carries: the
//! runner's build (`--no-default-features`) checks their shape but not their ranges, and has no
//! [`DriftSchedule::is_due`]. Nothing in the runner reads a schedule.

use std::fmt;

/// A rate's unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateUnit {
    /// `minute` / `minutes`.
    Minute,
    /// `hour` / `hours`.
    Hour,
    /// `day` / `days`.
    Day,
}

impl RateUnit {
    /// The unit's length in seconds.
    #[must_use]
    pub fn secs(self) -> u64 {
        match self {
            RateUnit::Minute => 60,
            RateUnit::Hour => 3600,
            RateUnit::Day => 86_400,
        }
    }

    fn name(self) -> &'static str {
        match self {
            RateUnit::Minute => "minute",
            RateUnit::Hour => "hour",
            RateUnit::Day => "day",
        }
    }
}

/// A drift schedule, as EventBridge Scheduler writes one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DriftSchedule {
    /// `rate(N unit)`: due `N` units after the last check.
    Rate {
        /// `N`, at least 1.
        count: u32,
        /// The unit.
        unit: RateUnit,
    },
    /// `cron(minutes hours day-of-month month day-of-week year)`: due at each occurrence, UTC.
    Cron {
        /// The six fields, upper-case (day-of-week 1-7 is SUN-SAT, as in EventBridge).
        fields: [String; 6],
    },
}

const CRON_FIELDS: [&str; 6] = [
    "minutes",
    "hours",
    "day-of-month",
    "month",
    "day-of-week",
    "year",
];

impl DriftSchedule {
    /// The policy's default when it names no schedule.
    pub const POLICY_DEFAULT: &'static str = "rate(1 day)";

    /// Reads `rate(...)` or `cron(...)`.
    ///
    /// # Errors
    ///
    /// What is wrong with the text, in words fit for a diagnostic.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Some(inner) = inside(text, "rate") {
            parse_rate(inner)
        } else if let Some(inner) = inside(text, "cron") {
            parse_cron(inner)
        } else {
            Err(format!(
                "`{text}` is not a schedule: write `rate(N minutes|hours|days)` or `cron(minutes hours day-of-month month day-of-week year)`"
            ))
        }
    }

    /// The default schedule of the policy, `rate(1 day)`.
    #[must_use]
    pub fn policy_default() -> Self {
        DriftSchedule::Rate {
            count: 1,
            unit: RateUnit::Day,
        }
    }

    /// Whether a check is due at `now` (unix seconds) after the last one at `last_checked`
    /// (`None`: never checked, so due). A rate is due once its interval has passed, less a
    /// little slack (min(60 s, interval / 20)) so that a sweep tick arriving a moment early still
    /// counts; a cron expression is due when one of its occurrences lies in
    /// `(last_checked, now]`.
    #[cfg(feature = "function")]
    #[must_use]
    pub fn is_due(&self, last_checked: Option<u64>, now: u64) -> bool {
        let Some(last) = last_checked else {
            return true;
        };
        match self {
            DriftSchedule::Rate { count, unit } => {
                let interval = u64::from(*count) * unit.secs();
                let slack = (interval / 20).min(60);
                last.saturating_add(interval) <= now.saturating_add(slack)
            }
            DriftSchedule::Cron { fields } => cron_occurs_between(fields, last, now),
        }
    }
}

impl std::str::FromStr for DriftSchedule {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        DriftSchedule::parse(text)
    }
}

impl fmt::Display for DriftSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DriftSchedule::Rate { count, unit } => {
                let plural = if *count == 1 { "" } else { "s" };
                write!(f, "rate({count} {}{plural})", unit.name())
            }
            DriftSchedule::Cron { fields } => write!(f, "cron({})", fields.join(" ")),
        }
    }
}

/// The text between `name(` and the closing `)`.
fn inside<'t>(text: &'t str, name: &str) -> Option<&'t str> {
    text.strip_prefix(name)?
        .trim_start()
        .strip_prefix('(')?
        .strip_suffix(')')
}

fn parse_rate(inner: &str) -> Result<DriftSchedule, String> {
    let shape = || {
        format!(
            "`rate({inner})` is not a rate: write `rate(1 hour)`, `rate(30 minutes)` or `rate(2 days)`"
        )
    };
    let mut words = inner.split_whitespace();
    let (Some(count), Some(unit), None) = (words.next(), words.next(), words.next()) else {
        return Err(shape());
    };
    let count: u32 = count.parse().map_err(|_| shape())?;
    if count == 0 {
        return Err(format!(
            "`rate({inner})` is never: the shortest rate is `rate(1 minute)`"
        ));
    }
    let (unit, plural) = match unit {
        "minute" => (RateUnit::Minute, false),
        "minutes" => (RateUnit::Minute, true),
        "hour" => (RateUnit::Hour, false),
        "hours" => (RateUnit::Hour, true),
        "day" => (RateUnit::Day, false),
        "days" => (RateUnit::Day, true),
        _ => return Err(shape()),
    };
    if plural != (count > 1) {
        let (want, name) = (if count == 1 { "singular" } else { "plural" }, unit.name());
        return Err(format!(
            "`rate({inner})`: EventBridge wants the {want} unit here, `rate({count} {name}{})`",
            if count == 1 { "" } else { "s" }
        ));
    }
    Ok(DriftSchedule::Rate { count, unit })
}

fn parse_cron(inner: &str) -> Result<DriftSchedule, String> {
    let upper = inner.to_ascii_uppercase();
    let parts: Vec<&str> = upper.split_whitespace().collect();
    let Ok(fields) = <[&str; 6]>::try_from(parts.as_slice()) else {
        return Err(format!(
            "`cron({inner})` has {} fields; EventBridge's have six: minutes hours day-of-month month day-of-week year, such as `cron(0 6 * * ? *)`",
            parts.len()
        ));
    };
    let question = |i: usize| fields[i] == "?";
    if question(2) == question(4) {
        return Err(format!(
            "`cron({inner})`: exactly one of day-of-month and day-of-week must be `?`, such as `cron(0 6 * * ? *)` or `cron(0 6 ? * MON *)`"
        ));
    }
    for (i, field) in fields.iter().enumerate() {
        check_cron_field(i, field).map_err(|why| {
            format!(
                "`cron({inner})`: the {} field `{field}` {why}",
                CRON_FIELDS[i]
            )
        })?;
    }
    let schedule = DriftSchedule::Cron {
        fields: fields.map(str::to_owned),
    };
    #[cfg(feature = "function")]
    if let DriftSchedule::Cron { fields } = &schedule {
        croner_cron(fields).map_err(|e| format!("`cron({inner})` is not valid: {e}"))?;
    }
    Ok(schedule)
}

/// Checks the characters EventBridge allows in field `i`, and the year's range.
fn check_cron_field(i: usize, field: &str) -> Result<(), String> {
    if field == "?" {
        return if i == 2 || i == 4 {
            Ok(())
        } else {
            Err("may not be `?` (only day-of-month or day-of-week may)".to_owned())
        };
    }
    let extra: &[char] = match i {
        2 => &['L', 'W'],
        4 => &['L', '#'],
        _ => &[],
    };
    let names = matches!(i, 3 | 4);
    let allowed = |c: char| {
        c.is_ascii_digit()
            || matches!(c, ',' | '-' | '*' | '/')
            || extra.contains(&c)
            || (names && c.is_ascii_uppercase())
    };
    if let Some(c) = field.chars().find(|c| !allowed(*c)) {
        return Err(format!("may not contain `{c}`"));
    }
    if i == 5 {
        let out_of_range = field
            .split(|c: char| !c.is_ascii_digit())
            .filter(|n| n.len() == 4)
            .filter_map(|n| n.parse::<u32>().ok())
            .any(|year| !(1970..=2199).contains(&year));
        if out_of_range {
            return Err("names a year outside 1970-2199".to_owned());
        }
    }
    Ok(())
}

/// The expression for `croner`: seconds 0, EventBridge's fields, its 1-7 = SUN-SAT weekdays.
#[cfg(feature = "function")]
fn croner_cron(fields: &[String; 6]) -> Result<croner::Cron, croner::errors::CronError> {
    use croner::parser::{CronParser, Seconds, Year};
    CronParser::builder()
        .seconds(Seconds::Required)
        .year(Year::Required)
        .alternative_weekdays(true)
        .build()
        .parse(&format!("0 {}", fields.join(" ")))
}

#[cfg(feature = "function")]
fn cron_occurs_between(fields: &[String; 6], after: u64, until: u64) -> bool {
    let (Ok(after), Ok(until)) = (i64::try_from(after), i64::try_from(until)) else {
        return false;
    };
    let Ok(cron) = croner_cron(fields) else {
        return false;
    };
    let Ok(start) = jiff::Timestamp::from_second(after) else {
        return false;
    };
    cron.find_next_occurrence(&start.to_zoned(jiff::tz::TimeZone::UTC), false)
        .is_ok_and(|next| next.timestamp().as_second() <= until)
}

#[cfg(all(test, feature = "function"))]
mod tests {
    use super::*;

    fn parse(text: &str) -> DriftSchedule {
        DriftSchedule::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn refused(text: &str, says: &str) {
        let err = DriftSchedule::parse(text).unwrap_err();
        assert!(err.contains(says), "{text}: {err}");
    }

    /// Unix seconds of a UTC time.
    fn at(text: &str) -> u64 {
        let ts: jiff::Timestamp = text.parse().unwrap();
        u64::try_from(ts.as_second()).unwrap()
    }

    #[test]
    fn rates_take_the_singular_for_one_and_the_plural_otherwise() {
        assert_eq!(
            parse("rate(1 minute)"),
            DriftSchedule::Rate {
                count: 1,
                unit: RateUnit::Minute
            }
        );
        assert_eq!(parse(" rate( 6 hours ) ").to_string(), "rate(6 hours)");
        assert_eq!(parse("rate(1 day)"), DriftSchedule::policy_default());
        assert_eq!(
            parse(DriftSchedule::POLICY_DEFAULT),
            DriftSchedule::policy_default()
        );
        refused("rate(1 hours)", "`rate(1 hour)`");
        refused("rate(2 day)", "`rate(2 days)`");
        refused("rate(0 minutes)", "shortest rate is `rate(1 minute)`");
        for bad in [
            "rate(-1 day)",
            "rate(1.5 hours)",
            "rate(1 week)",
            "rate(hour)",
        ] {
            refused(bad, "is not a rate");
        }
        for bad in ["", "daily", "rate 1 day", "at(2030-01-01T00:00:00)"] {
            refused(bad, "is not a schedule");
        }
    }

    #[test]
    fn cron_needs_six_fields_and_one_question_mark_among_the_days() {
        let every_morning = parse("cron(0  6 * * ? *)");
        assert_eq!(every_morning.to_string(), "cron(0 6 * * ? *)");
        assert_eq!(
            parse("cron(0 6 ? * mon-fri *)").to_string(),
            "cron(0 6 ? * MON-FRI *)"
        );
        refused("cron(0 6 * * *)", "has 5 fields");
        refused(
            "cron(0 6 * * * *)",
            "exactly one of day-of-month and day-of-week",
        );
        refused(
            "cron(0 6 ? * ? *)",
            "exactly one of day-of-month and day-of-week",
        );
        refused("cron(? 6 * * ? *)", "the minutes field `?` may not be `?`");
        refused("cron(0 6 * * ? 1969)", "outside 1970-2199");
        refused("cron(0 6 * * ? $)", "may not contain `$`");
        refused("cron(61 6 * * ? *)", "is not valid");
        refused("cron(0 6 ? * 9 *)", "is not valid");
        assert!(DriftSchedule::parse("cron(0 6 L * ? 2030-2035)").is_ok());
    }

    #[test]
    fn never_checked_is_due_and_a_rate_tolerates_an_early_tick() {
        let hourly = parse("rate(1 hour)");
        let t = at("2030-01-01T00:00:00Z");
        assert!(hourly.is_due(None, t));
        assert!(!hourly.is_due(Some(t), t + 1800));
        assert!(hourly.is_due(Some(t), t + 3600));
        assert!(
            hourly.is_due(Some(t), t + 3540),
            "a minute early still counts"
        );
        assert!(!hourly.is_due(Some(t), t + 3539));
        let minute = parse("rate(1 minute)");
        assert!(minute.is_due(Some(t), t + 57), "slack of 3 s: interval/20");
        assert!(!minute.is_due(Some(t), t + 56));
        assert!(
            !minute.is_due(Some(t + 600), t),
            "a clock behind is not due"
        );
    }

    #[test]
    fn cron_is_due_when_an_occurrence_lies_between_the_checks_in_utc() {
        let six = parse("cron(0 6 * * ? *)");
        let last = at("2030-03-30T05:00:00Z");
        assert!(!six.is_due(Some(last), at("2030-03-30T05:59:59Z")));
        assert!(six.is_due(Some(last), at("2030-03-30T06:00:00Z")));
        assert!(six.is_due(Some(last), at("2030-03-31T12:00:00Z")));
        // Checked at the occurrence itself: the next one is tomorrow's.
        let checked = at("2030-03-30T06:00:00Z");
        assert!(!six.is_due(Some(checked), at("2030-03-31T05:59:00Z")));
        assert!(six.is_due(Some(checked), at("2030-03-31T06:00:00Z")));
        // Europe changes its clocks on 2030-03-31; UTC does not, so no hour is skipped.
        let hourly = parse("cron(30 * * * ? *)");
        assert!(hourly.is_due(Some(at("2030-03-31T01:00:00Z")), at("2030-03-31T01:30:00Z")));
    }

    #[test]
    fn cron_weekdays_count_from_sunday_one_as_in_eventbridge() {
        // 2030-01-06 is a Sunday; `1` is Sunday, `2` Monday.
        let sunday = parse("cron(0 0 ? * 1 *)");
        let saturday_night = at("2030-01-05T23:00:00Z");
        assert!(sunday.is_due(Some(saturday_night), at("2030-01-06T00:00:00Z")));
        let monday = parse("cron(0 0 ? * MON *)");
        assert!(!monday.is_due(Some(saturday_night), at("2030-01-06T23:59:00Z")));
        assert!(monday.is_due(Some(saturday_night), at("2030-01-07T00:00:00Z")));
        // The last Friday of January 2030 is the 25th; the first Monday is the 7th.
        let last_friday = parse("cron(0 9 ? * 6L *)");
        assert!(!last_friday.is_due(Some(at("2030-01-18T10:00:00Z")), at("2030-01-24T10:00:00Z")));
        assert!(last_friday.is_due(Some(at("2030-01-18T10:00:00Z")), at("2030-01-25T09:00:00Z")));
        let first_monday = parse("cron(0 9 ? * 2#1 *)");
        assert!(first_monday.is_due(Some(at("2030-01-01T00:00:00Z")), at("2030-01-07T09:00:00Z")));
        assert!(!first_monday.is_due(Some(at("2030-01-07T09:00:00Z")), at("2030-01-31T00:00:00Z")));
    }

    #[test]
    fn a_cron_whose_years_are_over_is_never_due_again() {
        let once = parse("cron(0 0 1 1 ? 2030)");
        assert!(once.is_due(Some(at("2029-12-31T00:00:00Z")), at("2030-01-01T00:00:00Z")));
        assert!(!once.is_due(Some(at("2030-01-01T00:00:00Z")), at("2040-01-01T00:00:00Z")));
    }
}
