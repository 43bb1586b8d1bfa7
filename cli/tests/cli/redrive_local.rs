//! `orchgen redrive --local`: `orchgen dev`'s dead letters re-driven once their cause is fixed, as a
//! user does it — a record the processor gives up on (here an order damaged behind the API's back),
//! the redrive that keeps the letter while the cause is there, the repair, the redrive that moves
//! the order on, and `orchgen dev` (running) that completes it. The dev-host (custom steps) and
//! DynamoDB paths are exercised in `fault_injection.rs`, where such letters are produced.

use std::path::{Path, PathBuf};
use std::time::Duration;

use orchgen_runtime::dead_letter::{self, DEAD_LETTER_FILE};
use orchgen_tests::dev_server::{Dev, pipeline_with_inventory};
use orchgen_tests::{fixtures, wait_until};
use serde_json::Value;

use crate::orchgen;

/// The reference pipeline with 100 units of product-1 and `stream.max_retries: 1` (a failing
/// record is dead-lettered after two deliveries, in a fraction of a second).
fn quick_pipeline(dir: &Path) -> PathBuf {
    let path = pipeline_with_inventory(dir, &[("product-1", 100)]).expect("the test pipeline is written");
    let text = std::fs::read_to_string(&path).expect("the pipeline");
    assert!(text.contains("  max_retries: 10\n"), "the reference pipeline declares stream.max_retries: 10");
    std::fs::write(&path, text.replace("  max_retries: 10\n", "  max_retries: 1\n")).expect("written");
    path
}

/// `orchgen redrive FILE --local --data-dir DATA ARGS…` in this process.
fn redrive(file: &Path, data: &Path, args: &[&str]) -> (u8, String, String) {
    let (file, data) = (file.display().to_string(), data.display().to_string());
    let mut all = vec!["redrive", file.as_str(), "--local", "--data-dir", data.as_str()];
    all.extend_from_slice(args);
    orchgen(&all)
}

#[test]
fn a_dead_lettered_order_is_kept_until_its_cause_is_fixed_then_redriven_and_completed() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let file = quick_pipeline(dir.path());
    let data = dir.path().join("data");
    let letters_file = data.join(DEAD_LETTER_FILE);
    let server = Dev::new(crate::orchgen_bin(), &file, &data).start();

    // Nothing to do yet.
    let (code, out, err) = redrive(&file, &data, &[]);
    assert_eq!((code, out.trim()), (0, format!("no dead letters in {}", letters_file.display()).as_str()), "{err}");

    // An order whose stored body is not an order, with its change record (written into the
    // embedded store behind the API's back): every delivery fails, the record is dead-lettered.
    let db = rusqlite::Connection::open(data.join("orchgen.db")).expect("the embedded store opens");
    db.busy_timeout(Duration::from_secs(10)).expect("busy timeout");
    let id = ulid::Ulid::new().to_string();
    db.execute(
        "INSERT INTO orders (order_id, status, created_at, version, body) VALUES (?1, 'RECEIVED', '2026-01-01T00:00:00Z', 1, '{ not an order')",
        [&id],
    )
    .expect("the damaged order is written");
    db.execute("INSERT INTO changes (order_id, kind, new_image) VALUES (?1, 'INSERT', '{ not an order')", [&id])
        .expect("its change record is written");
    let dead_lettered = wait_until(Duration::from_secs(30), Duration::from_millis(50), || {
        dead_letter::read(&letters_file).is_ok_and(|letters| letters.len() == 1)
    });
    assert!(dead_lettered, "the damaged record was not dead-lettered within 30 s\n{}", server.log_tail());
    // The log and the dashboard say so, and what to do.
    let logged = wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
        server.log_all().contains("sent to the dead-letter file (once its cause is fixed: `orchgen redrive --local`)")
    });
    assert!(logged, "the processor's log names the remedy:\n{}", server.log_tail());
    let (_, status) = server.get("/_orchgen/status");
    assert_eq!(status["dead_letters"], 1, "{status:#}");

    // The cause is still there: the letter is kept, with the reason, and the exit code says so.
    let (code, out, err) = redrive(&file, &data, &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("1 dead letter in"), "{out}");
    assert!(out.contains("0 handled and removed, 1 kept"), "{out}");
    assert!(out.contains("failed again") && out.contains("an order cannot be read"), "{out}");
    assert_eq!(dead_letter::read(&letters_file).expect("the file reads").len(), 1, "the letter stays");

    // The user repairs the order (a plain RECEIVED order of one unit)…
    let repaired = fixtures::order().one_unit("product-1").received(&id, "2026-01-01T00:00:00Z");
    let body = serde_json::to_string(&repaired).expect("an order serialises");
    db.execute("UPDATE orders SET body = ?1 WHERE order_id = ?2", [&body, &id]).expect("repaired");
    let (_, before) = server.get(&format!("/orders/{id}"));
    assert_eq!(before["status"], "RECEIVED", "nothing drives it until the redrive: {before}");

    // …and re-drives it: the letter leaves the file, the order moves one step…
    let (code, out, err) = redrive(&file, &data, &["--format", "json"]);
    assert_eq!(code, 0, "{out}{err}");
    let report: Value = serde_json::from_str(&out).expect("a JSON report");
    assert_eq!(
        (report["letters"].as_u64(), report["removed"].as_u64(), report["left"].as_u64()),
        (Some(1), Some(1), Some(0)),
        "{report:#}"
    );
    assert_eq!(report["kept"], serde_json::json!([]), "{report:#}");
    let orders = report["orders"].as_array().expect("orders");
    assert_eq!(orders.len(), 1, "{report:#}");
    assert_eq!((orders[0]["outcome"].as_str(), orders[0]["order_id"].as_str()), (Some("moved"), Some(id.as_str())));
    assert_eq!(orders[0]["from"], "RECEIVED", "{report:#}");
    assert_ne!(orders[0]["to"], "RECEIVED", "{report:#}");
    assert_eq!(dead_letter::read(&letters_file).expect("the file reads"), [], "the handled letter left the file");
    let (_, status) = server.get("/_orchgen/status");
    assert_eq!(status["dead_letters"], 0, "{status:#}");

    // …and the running `orchgen dev` takes it to the end, each step once, one unit taken.
    let order = server.wait_terminal(&id);
    assert_eq!(order["status"], "COMPLETED", "{order:#}");
    assert_eq!(server.stock("product-1"), (99, 0));
    assert_eq!(server.charges(), 1);

    // A second redrive finds nothing.
    let (code, out, _) = redrive(&file, &data, &[]);
    assert_eq!((code, out.trim()), (0, format!("no dead letters in {}", letters_file.display()).as_str()));
}

#[test]
fn a_local_redrive_refuses_what_it_cannot_do() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let file = quick_pipeline(dir.path());
    let data = dir.path().join("data");

    // Letters but no store: the wrong data directory.
    let mut letter = dead_letter::DeadLetter::new(
        dead_letter::RETRIES_EXHAUSTED,
        2,
        "boom",
        dead_letter::BatchInfo {
            start_sequence_number: "7".into(),
            end_sequence_number: "7".into(),
            batch_size: 1,
            ..Default::default()
        },
    );
    letter.order_ids = vec!["o-1".to_owned()];
    dead_letter::append(data.join(DEAD_LETTER_FILE), &letter).expect("a letter");
    let (code, out, err) = redrive(&file, &data, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(err.contains("no store in") && err.contains("--data-dir"), "{err}");
    // `orchgen dev` started on letters says they wait, and what to do.
    let server = Dev::new(crate::orchgen_bin(), &file, &data).start();
    let warned = wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
        server.log_all().contains("wait in the dead-letter file: fix their cause, then run `orchgen redrive --local`")
    });
    assert!(warned, "the start-up log tells about the letters:\n{}", server.log_tail());
    server.kill();
    std::fs::remove_file(data.join("orchgen.db")).expect("the store it created is removed again");
    // A file that is not a dead-letter file: located.
    std::fs::write(data.join(DEAD_LETTER_FILE), "{\"requestContext\": 1}\n").expect("written");
    let (code, _, err) = redrive(&file, &data, &[]);
    assert_eq!(code, 1);
    assert!(err.contains("line 1: not a dead letter"), "{err}");

    // The command line: a stage or --local, not both, and --local's options only with it.
    let parse = |args: &[&str]| {
        use clap::Parser as _;
        orchgen::Cli::try_parse_from(std::iter::once("orchgen").chain(args.iter().copied()))
            .expect_err("refused")
            .to_string()
    };
    assert!(parse(&["redrive"]).contains("--stage"));
    assert!(parse(&["redrive", "--local", "--stage", "dev"]).contains("cannot be used with"));
    assert!(parse(&["redrive", "--local", "--region", "eu-west-1"]).contains("cannot be used with"));
    assert!(parse(&["redrive", "--local", "--steps", "lambda"]).contains("cannot be used with"));
    assert!(parse(&["redrive", "--stage", "dev", "--data-dir", "x"]).contains("cannot be used with"));
    assert!(parse(&["redrive", "--local", "--table-prefix", "p-"]).contains("--dynamodb-endpoint"));
}
