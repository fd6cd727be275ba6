//! Counts DynamoDB requests by operation (an SDK interceptor, one entry per attempt, retries
//! included) with the request units each would cost on demand, estimated from the wire:
//!
//! - reads: 1 RRU per started 4 KB of the response (strongly consistent), half that for an
//!   eventually consistent read (a secondary index's query); at least one unit;
//! - writes: 1 WRU per started KB of the larger of the request and the response (an
//!   `ALL_OLD` image), 2 per started KB for each item of a `TransactWriteItems` (condition
//!   checks included); plus 1 WRU for each secondary index key (`gsi1pk`, `gsi2pk`) the write
//!   or its returned image names, as DynamoDB writes the index too.
//!
//! The JSON wire form is larger than the item DynamoDB sizes, so these are upper bounds on
//! item sizes; an index entry removed by a write that does not name its key is not counted.

use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use serde_json::Value;

/// The index key attributes of the store's table.
const INDEX_KEYS: [&str; 2] = ["gsi1pk", "gsi2pk"];

/// One request attempt.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The action (`GetItem`, `TransactWriteItems`, ...).
    pub op: String,
    /// Read request units.
    pub rru: f64,
    /// Write request units.
    pub wru: f64,
}

/// The interceptor; clones share one log.
#[derive(Debug, Clone, Default)]
pub struct DynamoCount(Arc<Mutex<Vec<Sent>>>);

impl DynamoCount {
    /// The attempts logged since the last `take`.
    pub fn take(&self) -> Vec<Sent> {
        std::mem::take(&mut *self.0.lock().expect("log lock"))
    }
}

fn blocks(bytes: usize, block: usize) -> f64 {
    #[allow(clippy::cast_precision_loss, reason = "small counts")]
    let started = bytes.div_ceil(block).max(1) as f64;
    started
}

fn index_writes(texts: &[&str]) -> f64 {
    #[allow(clippy::cast_precision_loss, reason = "at most two")]
    let named = INDEX_KEYS
        .iter()
        .filter(|key| texts.iter().any(|text| text.contains(*key)))
        .count() as f64;
    named
}

/// The (RRU, WRU) of one request of `op`.
fn units(op: &str, request: &[u8], response: &[u8]) -> (f64, f64) {
    let text = |bytes| std::str::from_utf8(bytes).unwrap_or_default();
    let (request_text, response_text) = (text(request), text(response));
    let parsed: Value = serde_json::from_slice(request).unwrap_or_default();
    match op {
        "GetItem" | "Query" => {
            let consistent = parsed["ConsistentRead"] == Value::Bool(true);
            let factor = if consistent { 1.0 } else { 0.5 };
            (blocks(response.len(), 4096) * factor, 0.0)
        }
        "PutItem" | "UpdateItem" | "DeleteItem" => {
            let size = request.len().max(response.len());
            let wru = blocks(size, 1024) + index_writes(&[request_text, response_text]);
            (0.0, wru)
        }
        "TransactWriteItems" => {
            let items = parsed["TransactItems"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let wru = items
                .iter()
                .map(|item| {
                    let json = item.to_string();
                    2.0 * blocks(json.len(), 1024) + index_writes(&[&json])
                })
                .sum();
            (0.0, wru)
        }
        _ => (0.0, 0.0),
    }
}

/// The request of the attempt in flight, kept in the operation's config bag until its answer.
#[derive(Debug, Clone)]
struct InFlight {
    op: String,
    body: Vec<u8>,
}

impl Storable for InFlight {
    type Storer = StoreReplace<Self>;
}

impl Intercept for DynamoCount {
    fn name(&self) -> &'static str {
        "DynamoCount"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let op = request
            .headers()
            .get("x-amz-target")
            .unwrap_or("?")
            .trim_start_matches("DynamoDB_20120810.")
            .to_owned();
        let body = request.body().bytes().unwrap_or_default().to_vec();
        cfg.interceptor_state().store_put(InFlight { op, body });
        Ok(())
    }

    /// The request was handed to the connector by now: it is read from the bag.
    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(InFlight { op, body }) = cfg.load::<InFlight>().cloned() else {
            return Ok(());
        };
        let answer = context
            .response()
            .and_then(|response| response.body().bytes())
            .unwrap_or_default();
        let (rru, wru) = units(&op, &body, answer);
        self.0.lock().expect("log lock").push(Sent { op, rru, wru });
        Ok(())
    }
}
