//! The store contract, run against the embedded store (one test per case) and against DynamoDB
//! on a real local moto server (one server, a fresh table per case).

use crate::store_common;
use crate::store_common::contract;

macro_rules! embedded_cases {
    ($($case:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test]
                async fn $case() {
                    let (store, _dir) = super::store_common::embedded();
                    super::contract::$case(&store).await;
                }
            )*
        }
    };
}

macro_rules! dynamodb_cases {
    ($($case:ident),* $(,)?) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn dynamodb_store_meets_every_contract_case_against_moto() {
            let moto = store_common::start_moto();
            $(
                eprintln!("contract case against moto: {}", stringify!($case));
                let store = store_common::dynamo_store(&moto, stringify!($case)).await;
                contract::$case(&store).await;
            )*
        }
    };
}

crate::for_each_contract_case!(embedded_cases);
crate::for_each_contract_case!(dynamodb_cases);
