//! What the dashboard and conformance tests share: the `orchgen dev` server (over
//! `orchgen_tests::dev_server`), the orders they submit, and the counts the API gives.

#![allow(dead_code)] // each test binary uses a part

use std::collections::BTreeMap;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use orchgen_tests::dev_server::{DevProcess, dev_command};
use orchgen_tests::workspace_root;
use reqwest::StatusCode;
use reqwest::blocking::Client;
use serde_json::{Value, json};

/// Longest wait for the server to listen.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait for orders to settle.
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(45);
/// The terminal statuses.
pub const TERMINAL: [&str; 4] = ["COMPLETED", "REJECTED", "FAILED", "CANCELLED"];

/// A running `orchgen dev` (killed when dropped).
pub struct Server {
    process: DevProcess,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// A blocking HTTP client.
    pub client: Client,
}

impl Server {
    /// Starts `orchgen dev pipelines/orders.yaml --port 0 --data-dir <dir>/data` and waits until it
    /// listens.
    pub fn start(dir: &Path) -> Server {
        let data = dir.join("data");
        let command = dev_command(&workspace_root().join("pipelines/orders.yaml"), &data);
        let process =
            DevProcess::spawn(command, &dir.join("server.log"), START_TIMEOUT).unwrap_or_else(|e| panic!("{e}"));
        let client = Client::builder().timeout(Duration::from_secs(15)).build().expect("the HTTP client builds");
        Server { base: process.base.clone(), process, client }
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        self.process.url(path)
    }

    /// The end of the server's log.
    pub fn log_tail(&self) -> String {
        self.process.log_tail()
    }

    /// GET `path` as JSON.
    pub fn get(&self, path: &str) -> (StatusCode, Value) {
        let response =
            self.client.get(self.url(path)).send().unwrap_or_else(|e| panic!("GET {path}: {e}\n{}", self.log_tail()));
        let status = response.status();
        let text = response.text().expect("a body");
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// POSTs an order that must be accepted; returns its id.
    pub fn submit(&self, body: &Value) -> String {
        let response = self
            .client
            .post(self.url("/orders"))
            .json(body)
            .send()
            .unwrap_or_else(|e| panic!("POST /orders: {e}\n{}", self.log_tail()));
        let status = response.status();
        let reply: Value = response.json().expect("a JSON reply");
        assert_eq!(status, StatusCode::CREATED, "POST /orders: {reply}");
        reply["order_id"].as_str().expect("order_id").to_owned()
    }

    /// How many orders `GET /orders?status=…` lists, over every page.
    pub fn api_count(&self, status: &str) -> u64 {
        let mut count = 0;
        let mut path = format!("/orders?status={status}&limit=100");
        loop {
            let (code, page) = self.get(&path);
            assert_eq!(code, StatusCode::OK, "GET {path}: {page}");
            count += page["orders"].as_array().expect("orders").len() as u64;
            match page["next"].as_str() {
                Some(next) => path = format!("/orders?status={status}&limit=100&next={next}"),
                None => return count,
            }
        }
    }

    /// Waits until `orders` are all terminal; returns the API's count per terminal status.
    pub fn settle(&self, orders: &[String]) -> BTreeMap<String, u64> {
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        for id in orders {
            loop {
                let (code, order) = self.get(&format!("/orders/{id}"));
                assert_eq!(code, StatusCode::OK, "{order}");
                if order["terminal"] == true {
                    break;
                }
                assert!(Instant::now() < deadline, "order {id} is still {}:\n{}", order["status"], self.log_tail());
                thread::sleep(Duration::from_millis(50));
            }
        }
        TERMINAL.iter().map(|s| (s.to_string(), self.api_count(s))).collect()
    }
}

/// An order of `quantity` units of `product` paid with `payment_method`, shipped to `country`.
pub fn order(product: &str, quantity: u32, payment_method: &str, country: &str) -> Value {
    json!({
        "customer": { "customer_id": "cust-12345", "email": "customer@example.com", "name": "John Doe" },
        "items": [{ "product_id": product, "quantity": quantity, "unit_price": 10.0 }],
        "shipping_address": {
            "street": "123 Main St", "city": "Seattle", "state": "WA", "postal_code": "98101", "country": country
        },
        "payment": { "payment_method": payment_method }
    })
}

/// The mix both tests submit: how many of each kind.
pub struct Mix {
    /// Orders that complete.
    pub completing: usize,
    /// Orders paid with `declined_card` (CANCELLED after releasing their stock).
    pub declined: usize,
    /// Orders of a product with no stock (FAILED, OUT_OF_STOCK).
    pub out_of_stock: usize,
    /// Orders to a country the pipeline does not ship to (REJECTED by validate).
    pub rejected: usize,
}

impl Mix {
    /// The bodies, interleaved.
    pub fn bodies(&self) -> Vec<Value> {
        let mut bodies = Vec::new();
        let most = self.completing.max(self.declined).max(self.out_of_stock).max(self.rejected);
        for i in 0..most {
            if i < self.completing {
                bodies.push(order("product-1", 1, "credit_card", "US"));
            }
            if i < self.declined {
                bodies.push(order("product-2", 1, "declined_card", "US"));
            }
            if i < self.out_of_stock {
                bodies.push(order("product-5", 1, "credit_card", "US"));
            }
            if i < self.rejected {
                bodies.push(order("product-1", 1, "credit_card", "ZZ"));
            }
        }
        bodies
    }

    /// Every order.
    pub fn total(&self) -> usize {
        self.completing + self.declined + self.out_of_stock + self.rejected
    }
}

/// A new empty temporary directory.
pub fn temp(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new().prefix(prefix).tempdir().expect("a temp dir")
}
