//! A hello-world `lambda_http` function, the cold-start baseline for `benches/cold_start.rs`. It
//! uses the same single-threaded Tokio runtime as `landfall-function` so that the comparison
//! measures the function's own start-up work, not a choice of runtime flavour.

use lambda_http::{Body, Error, Request, Response, service_fn};

fn main() -> Result<(), Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(lambda_http::run(service_fn(|_request: Request| async {
            Ok::<_, Error>(Response::new(Body::from("hello, world")))
        })))
}
