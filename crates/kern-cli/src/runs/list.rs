//! `kern runs list`: runs newest first, a page at a time, as a table.

use crate::render::{self, age, status_word};
use crate::term::{pad, truncate, visible_width, Sgr, Term};
use anyhow::Result;
use kern::engine::Engine;
use kern::store::{now_millis, ComponentKind, RunFilter, RunRecord, RunStatus};
use std::io::Write;

/// `kern runs list` arguments.
#[derive(clap::Args)]
pub struct ListArgs {
    /// Only runs with this status (pending, running, paused, completed, failed, cancelled);
    /// repeatable: `--status failed --status cancelled`.
    #[arg(long, value_name = "STATUS")]
    status: Vec<RunStatus>,
    /// Only runs of this component: its id, or `kind:id` (e.g. `workflow:echo`).
    #[arg(long)]
    component: Option<String>,
    /// Only runs of this kind (agent, team, workflow).
    #[arg(long)]
    kind: Option<ComponentKind>,
    /// Only runs of this session.
    #[arg(long)]
    session: Option<String>,
    /// Only runs of this user.
    #[arg(long)]
    user: Option<String>,
    /// Also list child runs (a team's members, a workflow's agent and team steps), which are
    /// otherwise seen through their parent.
    #[arg(long)]
    children: bool,
    /// Runs per page.
    #[arg(long, default_value_t = 20,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10_000))]
    limit: usize,
    /// The page to show: 1 is the newest runs, 2 the ones before them, …
    #[arg(long, default_value_t = 1,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    page: usize,
}

impl ListArgs {
    fn filter(&self) -> RunFilter {
        let (kind, component_id) = match self.component.as_deref().map(split_component) {
            Some((kind, id)) => (kind.or(self.kind), Some(id)),
            None => (self.kind, None),
        };
        RunFilter {
            session_id: self.session.clone(),
            statuses: self.status.clone(),
            kind,
            component_id,
            user_id: self.user.clone(),
            top_level: !self.children,
            limit: Some(self.limit),
            offset: Some(self.limit * (self.page - 1)),
            newest_first: true,
            ..Default::default()
        }
    }

    /// The filters given, as `key=value` words (for the line saying nothing matched).
    fn described(&self) -> Vec<String> {
        let mut out: Vec<String> = self.status.iter().map(|s| format!("status={s}")).collect();
        let fields = [
            ("component", &self.component),
            ("session", &self.session),
            ("user", &self.user),
        ];
        for (key, value) in fields {
            if let Some(v) = value {
                out.push(format!("{key}={v}"));
            }
        }
        if let Some(k) = self.kind {
            out.push(format!("kind={k}"));
        }
        out
    }
}

/// `kind:id` → (kind, id); a plain id (or an unknown prefix) is an id of any kind.
fn split_component(s: &str) -> (Option<ComponentKind>, String) {
    if let Some((kind, id)) = s.split_once(':') {
        if let Ok(kind) = kind.parse::<ComponentKind>() {
            return (Some(kind), id.to_owned());
        }
    }
    (None, s.to_owned())
}

/// Lists the runs `args` select, with a header and a footer saying how many more there are.
pub async fn list(
    engine: &Engine,
    args: &ListArgs,
    term: &Term,
    out: &mut impl Write,
) -> Result<u8> {
    let filter = args.filter();
    let runs = engine.list_runs(&filter).await?;
    let total = engine.store().count_runs(&filter).await?;
    let offset = filter.offset.unwrap_or(0);
    write!(out, "{}", table(&runs, now_millis(), term))?;
    let footer = footer(args, runs.len(), offset, total);
    writeln!(out, "{}", term.paint(&footer, &[Sgr::Dim]))?;
    Ok(crate::exit::OK)
}

/// The line under the table: how many runs, how many more, or why there are none.
fn footer(args: &ListArgs, shown: usize, offset: usize, total: u64) -> String {
    let total = total as usize;
    let noun = |n: usize, word: &str| {
        if n == 1 {
            word.to_owned()
        } else {
            format!("{word}s")
        }
    };
    if shown == 0 {
        if total == 0 {
            let filters = args.described();
            return if filters.is_empty() {
                "no runs".into()
            } else {
                format!("no runs match {}", filters.join(" "))
            };
        }
        let pages = total.div_ceil(args.limit);
        return format!(
            "no runs on page {}: {total} {} on {pages} {} of {}",
            args.page,
            noun(total, "run"),
            noun(pages, "page"),
            args.limit
        );
    }
    let more = total.saturating_sub(offset + shown);
    let mut line = if offset == 0 && more == 0 {
        format!("{shown} {}", noun(shown, "run"))
    } else {
        format!("runs {}–{} of {total}", offset + 1, offset + shown)
    };
    if more > 0 {
        line.push_str(&format!("; {more} more: --page {}", args.page + 1));
    }
    line
}

/// The table of `runs` (header and rows), `now` for ages, or nothing for no runs.
fn table(runs: &[RunRecord], now: i64, term: &Term) -> String {
    if runs.is_empty() {
        return String::new();
    }
    let rows: Vec<[String; 6]> = runs
        .iter()
        .map(|r| {
            let duration = match render::run_duration_ms(r, now) {
                Some(ms) if r.status == RunStatus::Running => {
                    format!("{}…", render::duration_ms(ms))
                }
                Some(ms) => render::duration_ms(ms),
                None => "-".into(),
            };
            let input = render::input_text(r);
            [
                r.run_id.to_string(),
                truncate(&format!("{}:{}", r.kind, r.component_id), 32),
                r.status.to_string(),
                age(now - r.created_at),
                duration,
                input.split_whitespace().collect::<Vec<_>>().join(" "),
            ]
        })
        .collect();
    let header = ["RUN ID", "COMPONENT", "STATUS", "AGE", "DURATION", "INPUT"];
    let mut widths = header.map(visible_width);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(visible_width(cell));
        }
    }
    // The input takes what the other columns leave of the line (at least 20 columns).
    let used: usize = widths[..5].iter().sum::<usize>() + 2 * 5;
    widths[5] = widths[5].min(term.width.saturating_sub(used).max(20));
    let mut out = String::new();
    let cells: Vec<String> = header.iter().zip(widths).map(|(h, w)| pad(h, w)).collect();
    out.push_str(&term.paint(cells.join("  ").trim_end(), &[Sgr::Bold]));
    out.push('\n');
    for (run, row) in runs.iter().zip(&rows) {
        let mut cells: Vec<String> = Vec::with_capacity(6);
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            let text = truncate(cell, w);
            let padded = pad(&text, w);
            cells.push(match i {
                // Padding first: ANSI codes take no columns but count in `format!` widths.
                3 => term.paint(&padded, &[Sgr::Dim]),
                2 => format!(
                    "{}{}",
                    status_word(run.status, term),
                    " ".repeat(w - visible_width(&text))
                ),
                _ => padded,
            });
        }
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ListArgs,
    }

    fn args(argv: &[&str]) -> ListArgs {
        Cli::parse_from(std::iter::once("list").chain(argv.iter().copied())).args
    }

    #[test]
    fn filters_and_pages_become_a_newest_first_filter() {
        let a = args(&[
            "--status",
            "failed",
            "--status",
            "cancelled",
            "--component",
            "workflow:echo",
            "--limit",
            "5",
            "--page",
            "3",
        ]);
        let f = a.filter();
        assert_eq!(f.statuses, [RunStatus::Failed, RunStatus::Cancelled]);
        assert_eq!(f.kind, Some(ComponentKind::Workflow));
        assert_eq!(f.component_id.as_deref(), Some("echo"));
        assert_eq!((f.limit, f.offset), (Some(5), Some(10)));
        assert!(f.newest_first && f.top_level);
        assert_eq!(
            a.described(),
            [
                "status=failed",
                "status=cancelled",
                "component=workflow:echo"
            ]
        );
        assert_eq!(split_component("a:b").1, "a:b");
    }

    #[test]
    fn the_footer_says_how_many_more_or_why_none() {
        let a = args(&["--limit", "2"]);
        assert_eq!(footer(&a, 2, 0, 2), "2 runs");
        assert_eq!(footer(&a, 2, 0, 5), "runs 1–2 of 5; 3 more: --page 2");
        assert_eq!(footer(&a, 0, 0, 0), "no runs");
        let b = args(&["--status", "paused", "--page", "4"]);
        assert_eq!(footer(&b, 0, 60, 0), "no runs match status=paused");
        assert_eq!(
            footer(&b, 0, 60, 3),
            "no runs on page 4: 3 runs on 1 page of 20"
        );
    }
}
