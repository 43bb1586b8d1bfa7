//! `orchgen orders list|get|submit`: the order API from the command line, against a running
//! `orchgen dev` (the default URL) or a deployed stage (`--url`; `--api-key` sent as `x-api-key`,
//! or requests signed with SigV4 for an IAM-protected API: `--sigv4`, implied for an execute-api URL
//! without an API key).
//!
//! Output is a readable table by default and the API's own JSON with `--format json` (for `list
//! --all`, one `ListBody` holding every page). Exit codes: 0 success, 1 the API refused the request
//! or could not be reached or answered something unreadable, 2 a usage error (an unreadable or
//! invalid order file, a bad URL).

use std::io::{Read, Write};
use std::path::PathBuf;

use orchgen_client::{
    ApiClient, ClientOptions, DEFAULT_PATH, OrdersError, default_url, list_text, order_text, read_order,
};
use orchgen_runtime::api::views::ListBody;

use crate::Format;

/// `orchgen orders …`.
#[derive(Debug, clap::Args)]
pub struct OrdersArgs {
    /// Base URL of the API: `orchgen dev`'s, or a deployed stage's (e.g.
    /// `https://abc123.execute-api.eu-west-1.amazonaws.com/prod`).
    #[arg(long, global = true, default_value_t = default_url())]
    pub url: String,
    /// API key, sent as `x-api-key` (default: the ORCHGEN_API_KEY environment variable).
    #[arg(long, global = true)]
    pub api_key: Option<String>,
    /// Sign the requests with AWS Signature V4 (an API with `auth: iam`), with the credentials
    /// the AWS CLI would use (AWS_PROFILE, AWS_ACCESS_KEY_ID, SSO …). Implied for an
    /// `…execute-api.REGION.amazonaws.com` URL when no API key is given.
    #[arg(long, global = true)]
    pub sigv4: bool,
    /// Path of the orders collection under the URL (the pipeline's `api.path`).
    #[arg(long, global = true, default_value = DEFAULT_PATH)]
    pub path: String,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Time limit of each HTTP request, in seconds.
    #[arg(long, global = true, default_value_t = 30)]
    pub timeout: u64,
    /// What to do.
    #[command(subcommand)]
    pub command: OrdersCommand,
}

/// The `orders` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum OrdersCommand {
    /// List orders, newest first.
    List {
        /// Only orders with this status (e.g. COMPLETED).
        #[arg(long)]
        status: Option<String>,
        /// Orders per page (the API's default when not given).
        #[arg(long)]
        limit: Option<u32>,
        /// Follow the `next` cursor through every page.
        #[arg(long)]
        all: bool,
    },
    /// Show one order: status, steps timeline, failure, charge and shipment.
    Get {
        /// The order id.
        id: String,
    },
    /// Submit an order: the JSON body of `POST /orders`, from a file or standard input (`-`).
    Submit {
        /// The order file; `-` (the default) reads standard input.
        #[arg(default_value = "-")]
        file: PathBuf,
        /// Sent as `Idempotency-Key`: a retry with the same key and body returns the same order.
        #[arg(long)]
        idempotency_key: Option<String>,
    },
}

impl OrdersArgs {
    fn client_options(&self) -> ClientOptions {
        ClientOptions {
            url: self.url.clone(),
            api_key: self.api_key.clone(),
            sigv4: self.sigv4,
            path: self.path.clone(),
            timeout: self.timeout,
        }
    }
}

/// Runs `orchgen orders …`; returns the exit code (messages on `err`).
pub fn run(args: OrdersArgs, out: &mut dyn Write, err: &mut dyn Write) -> std::io::Result<u8> {
    match execute(&args, &mut std::io::stdin().lock(), out, err) {
        Ok(()) => Ok(0),
        Err(OrdersError::Io(e)) => Err(e),
        Err(e) => {
            writeln!(err, "error: {e}")?;
            Ok(e.exit_code())
        }
    }
}

/// Runs a command, reading an order from `stdin` for `submit -`.
pub fn execute(
    args: &OrdersArgs,
    stdin: &mut dyn Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), OrdersError> {
    let api = ApiClient::new(&args.client_options())?;
    match &args.command {
        OrdersCommand::List { status, limit, all } => {
            if *limit == Some(0) {
                return Err(OrdersError::Usage("--limit must be at least 1".to_owned()));
            }
            let mut page = api.list(status.as_deref(), *limit, None)?;
            if *all {
                let mut orders = std::mem::take(&mut page.orders);
                while let Some(next) = page.next.take() {
                    page = api.list(status.as_deref(), *limit, Some(&next))?;
                    orders.append(&mut page.orders);
                }
                page = ListBody { count: orders.len(), orders, next: None };
            }
            match args.format {
                Format::Json => writeln!(out, "{}", to_json(&page)?)?,
                Format::Text => {
                    write!(out, "{}", list_text(&page.orders))?;
                    if page.next.is_some() {
                        writeln!(err, "more orders follow: --all lists every page")?;
                    }
                }
            }
        }
        OrdersCommand::Get { id } => {
            if id.trim().is_empty() {
                return Err(OrdersError::Usage("the order id is empty".to_owned()));
            }
            let (order, raw) = api.get(id)?;
            match args.format {
                Format::Json => writeln!(out, "{}", to_json(&raw)?)?,
                Format::Text => write!(out, "{}", order_text(&order))?,
            }
        }
        OrdersCommand::Submit { file, idempotency_key } => {
            let body = read_order(file, stdin)?;
            let (created, raw) = api.submit(&body, idempotency_key.as_deref())?;
            match args.format {
                Format::Json => writeln!(out, "{}", to_json(&raw)?)?,
                Format::Text => {
                    writeln!(out, "order {} {}", created.order_id, created.status)?;
                    writeln!(out, "  {}", created.links.self_)?;
                }
            }
        }
    }
    Ok(())
}

fn to_json(value: &impl serde::Serialize) -> Result<String, OrdersError> {
    serde_json::to_string_pretty(value).map_err(|e| OrdersError::Api(format!("cannot print the answer as JSON: {e}")))
}
