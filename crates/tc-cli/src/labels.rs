//! `tcbatch labels`: every dynamic label of the account, read page after page, so an operator
//! can find the `label_id` to put in a file.

use crate::connection::ConnectionArgs;
use crate::submit::OutputArg;
use anyhow::Result;
use std::io::Write;
use std::process::ExitCode;
use tc_core::diagnostic::escape_control_characters;
use tc_core::wire::Label;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit status: 0 when every page was read (an account with no label \
                        included); 2 on a usage error or when a page could not be read (refused \
                        credentials, an unreachable API)."
)]
pub struct LabelsArgs {
    /// A table, or one JSON object per label on standard output.
    #[arg(long, value_enum, default_value_t = OutputArg::Human)]
    pub output: OutputArg,
    /// Labels asked for per page (1 to 1000). Only to test paging: the client's default, the
    /// largest page, costs the fewest requests.
    #[arg(long, value_name = "N", hide = true)]
    pub page_size: Option<usize>,
    #[command(flatten)]
    pub connection: ConnectionArgs,
    #[command(flatten)]
    pub profile: crate::input_args::ProfileArgs,
}

pub fn run(mut args: LabelsArgs) -> Result<ExitCode> {
    args.connection.apply_profile_of(&args.profile)?;
    let runtime = crate::runtime()?;
    let labels = runtime.block_on(async {
        let page_size = args.page_size;
        let connection = args
            .connection
            .connect_with(|builder| match page_size {
                Some(size) => builder.labels_page_size(size),
                None => builder,
            })
            .await?;
        let labels = connection.client.labels().await;
        connection.close().await;
        anyhow::Ok(labels?)
    })?;
    let mut out = std::io::stdout().lock();
    match args.output {
        OutputArg::Human => print_table(&mut out, &labels)?,
        OutputArg::Json => {
            for label in &labels {
                serde_json::to_writer(&mut out, label)?;
                out.write_all(b"\n")?;
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `id  name  category / sub-category`, aligned, then a count.
fn print_table(out: &mut impl Write, labels: &[Label]) -> std::io::Result<()> {
    if labels.is_empty() {
        return writeln!(
            out,
            "no labels on this account: create one on the business console, or send \
             dynamic_label_name with each record"
        );
    }
    let name_width = labels
        .iter()
        .map(|label| label.name.chars().count())
        .max()
        .unwrap_or(0)
        .max("name".len());
    writeln!(out, "{:<36}  {:<name_width$}  category", "id", "name")?;
    for label in labels {
        let category = match (&label.category, &label.sub_category) {
            (Some(category), Some(sub)) => format!("{category} / {sub}"),
            (Some(category), None) => category.clone(),
            (None, _) => String::new(),
        };
        // Text from the API could carry terminal escapes: shown escaped.
        writeln!(
            out,
            "{:<36}  {:<name_width$}  {}",
            escape_control_characters(&label.id),
            escape_control_characters(&label.name),
            escape_control_characters(&category)
        )?;
    }
    writeln!(out, "{} labels", labels.len())
}
