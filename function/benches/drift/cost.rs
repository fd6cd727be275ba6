//! The AWS cost of one day of drift checks, from counted requests and list prices.
//!
//! Prices: us-east-1 list prices as of 2026, before any free tier:
//! - DynamoDB on demand: $0.25 per million read request units, $1.25 per million write
//!   request units;
//! - S3 Standard: PUT $0.005 per 1,000 requests, GET $0.0004 per 1,000;
//! - EventBridge Scheduler: $1.00 per million invocations (after the 14 million a month free);
//! - Lambda (arm64): $0.20 per million requests, $0.0000133334 per GB-second.
//!
//! Terraform's own runtime (the Kubernetes Job, its state reads and writes) is aside.

/// $ per million read request units.
pub const RRU_PER_MILLION: f64 = 0.25;
/// $ per million write request units.
pub const WRU_PER_MILLION: f64 = 1.25;
/// $ per 1,000 S3 PUT requests.
pub const S3_PUT_PER_THOUSAND: f64 = 0.005;
/// $ per 1,000 S3 GET requests.
pub const S3_GET_PER_THOUSAND: f64 = 0.0004;
/// $ per million EventBridge Scheduler invocations.
pub const SCHEDULER_PER_MILLION: f64 = 1.00;
/// $ per million Lambda requests.
pub const LAMBDA_PER_MILLION: f64 = 0.20;
/// $ per GB-second of an arm64 Lambda function.
pub const LAMBDA_GB_SECOND: f64 = 0.000_013_333_4;
/// The function's memory: `memory_size` in the rendered `terraform/platform/landfall.tf.hbs`,
/// `[function] memory_mb` in `landfall.toml`, 512 by default.
pub const MEMORY_MB: u32 = 512;
/// Drift ticks a day: `drift_check_interval`'s default, `rate(1 hour)`.
pub const TICKS_PER_DAY: u32 = 24;
/// The projects whose day is priced.
pub const COST_PROJECTS: u32 = 1_000;

/// What one invocation (or one average invocation) costs in requests and time.
#[derive(Debug, Clone, Copy, Default)]
pub struct Invocation {
    /// Read request units.
    pub rru: f64,
    /// Write request units.
    pub wru: f64,
    /// The function's own CPU time, in seconds (moto's answers are far slower than DynamoDB's,
    /// so its wall time would price moto, not the function).
    pub seconds: f64,
}

/// A day: one tick that starts every check, the other ticks with nothing due, one report per
/// check.
#[derive(Debug, Clone, Copy)]
pub struct Day {
    /// Checks started (and reported).
    pub checks: u32,
    /// The tick that starts them, per check started.
    pub dispatch: Invocation,
    /// A tick with nothing due.
    pub idle_tick: Invocation,
    /// One check's report.
    pub report: Invocation,
    /// S3 PUTs a check's runner makes (its log; a planfile too when the plan changes).
    pub puts_per_check: f64,
    /// S3 GETs a check makes.
    pub gets_per_check: f64,
}

fn line(what: &str, quantity: f64, unit: &str, dollars: f64) -> String {
    format!(
        "  {what:<34} {quantity:>14.1} {unit:<12} ${dollars:>10.6}  (${:>9.4}/30 days)",
        dollars * 30.0
    )
}

impl Day {
    /// The table's lines, the total last.
    pub fn lines(&self) -> Vec<String> {
        let checks = f64::from(self.checks);
        let idle = f64::from(TICKS_PER_DAY - 1);
        let rru = checks * (self.dispatch.rru + self.report.rru) + idle * self.idle_tick.rru;
        let wru = checks * (self.dispatch.wru + self.report.wru) + idle * self.idle_tick.wru;
        let puts = checks * self.puts_per_check;
        let gets = checks * self.gets_per_check;
        let invocations = f64::from(TICKS_PER_DAY) + checks;
        let seconds =
            checks * (self.dispatch.seconds + self.report.seconds) + idle * self.idle_tick.seconds;
        let gb_seconds = seconds * f64::from(MEMORY_MB) / 1024.0;
        let items = [
            (
                "DynamoDB read request units",
                rru,
                "RRU",
                rru * RRU_PER_MILLION / 1e6,
            ),
            (
                "DynamoDB write request units",
                wru,
                "WRU",
                wru * WRU_PER_MILLION / 1e6,
            ),
            (
                "S3 PUT (logs, planfiles)",
                puts,
                "requests",
                puts * S3_PUT_PER_THOUSAND / 1e3,
            ),
            ("S3 GET", gets, "requests", gets * S3_GET_PER_THOUSAND / 1e3),
            (
                "EventBridge Scheduler invocations",
                f64::from(TICKS_PER_DAY),
                "invocations",
                f64::from(TICKS_PER_DAY) * SCHEDULER_PER_MILLION / 1e6,
            ),
            (
                "Lambda requests (ticks + reports)",
                invocations,
                "requests",
                invocations * LAMBDA_PER_MILLION / 1e6,
            ),
            (
                "Lambda compute",
                gb_seconds,
                "GB-s",
                gb_seconds * LAMBDA_GB_SECOND,
            ),
        ];
        let total: f64 = items.iter().map(|item| item.3).sum();
        let mut lines: Vec<String> = items
            .iter()
            .map(|(what, quantity, unit, dollars)| line(what, *quantity, unit, *dollars))
            .collect();
        lines.push(format!(
            "  {:<34} {:>14} {:<12} ${total:>10.6}  (${:>9.4}/30 days)",
            "total a day",
            "",
            "",
            total * 30.0
        ));
        lines
    }
}
