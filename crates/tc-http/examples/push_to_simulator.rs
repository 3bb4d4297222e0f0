//! Pushes a batch of call records to the simulator, started in this process, and waits until
//! every record's delivery is decided: the whole client in one program.
//!
//! `cargo run -p tc-http --example push_to_simulator`
//!
//! Against the API, build the client with `ClientBuilder::from_env()` (the `TRUECALLER_*`
//! variables) instead of the simulator's demo credentials.

use std::error::Error;
use std::time::{Duration, SystemTime};
use tc_core::{Batch, EpochMillis, RawRecord, Validator};
use tc_http::{Client, Settlement};
use tc_sim::{SimConfig, Simulator};

/// Receivers of the batch; the simulator answers each with a delivery decided by the number.
const RECEIVERS: [&str; 4] = [
    "+919876543211",
    "+919876543212",
    "+919876543213",
    "+919876543214",
];

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let sim = Simulator::start(SimConfig::demo()).await?;
    let account = sim.config();
    let client = Client::builder()
        .base_url(sim.base_url())
        .client_account_id(account.client_account_id.as_str())
        .key_id(account.key_id.as_str())
        .api_key(account.api_key.clone())
        .build()?;

    let batch = batch(&RECEIVERS)?;
    let created = client.create_call_records(&batch).await?;
    println!(
        "batch {} stored after {} attempt(s)",
        created.batch_id, created.attempts
    );

    let waited = client
        .wait_for_batch(
            &created.batch_id,
            Duration::from_secs(2),
            Duration::from_secs(60),
        )
        .await?;
    match waited.settlement {
        Settlement::Settled => println!("every delivery decided after {} poll(s):", waited.polls),
        _ => println!("still on their way after {} poll(s):", waited.polls),
    }
    for record in &waited.status.data {
        let delivery = record.status_info.delivery();
        let message = record.status_info.message.as_deref().unwrap_or("");
        println!("  {} {delivery} {message}", record.receiver_number);
    }
    println!("{:?}", client.stats());
    sim.shutdown().await;
    Ok(())
}

/// One batch, a call from the bank to each receiver within the next hour, validated as now.
fn batch(receivers: &[&str]) -> Result<Batch, Box<dyn Error>> {
    let now = EpochMillis::try_from(SystemTime::now())?;
    let (starts_at, ends_at) = (now.to_string(), now.plus(3_600_000).to_string());
    let validator = Validator::new(now);
    let mut records = Vec::new();
    for receiver in receivers {
        let raw = RawRecord::from_text_fields([
            ("caller_number", "+919876543210"),
            ("receiver_number", receiver),
            ("dynamic_label_name", "Centro Bank"),
            ("dynamic_call_reason", "Calling about your KYC update"),
            ("starts_at", starts_at.as_str()),
            ("ends_at", ends_at.as_str()),
        ]);
        let record = validator
            .validate(&raw)
            .map_err(|problems| format!("record for {receiver}: {problems:?}"))?;
        records.push(record);
    }
    Ok(Batch::new(records)?)
}
