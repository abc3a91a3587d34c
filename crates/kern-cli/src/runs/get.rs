//! `kern runs get`: one run, as a person reads it or as the HTTP API answers it.

use crate::render::run as view;
use crate::term::Term;
use anyhow::{bail, Result};
use kern::engine::Engine;
use kern::store::{now_millis, RunId};
use std::io::Write;

/// Prints run `run_id`: a summary, its input, its steps' results and its outcome; with
/// `json`, the document `GET /{kind}/{id}/runs/{run_id}` answers (built by `kern-server`).
pub async fn get(
    engine: &Engine,
    run_id: RunId,
    json: bool,
    term: &Term,
    out: &mut impl Write,
) -> Result<u8> {
    let Some(run) = engine.get_run(run_id).await? else {
        bail!("run {run_id} not found");
    };
    if json {
        writeln!(out, "{}", kern_server::run_document(engine, &run).await?)?;
        return Ok(crate::exit::OK);
    }
    let name = super::component_name(engine, &run).await?;
    let now = now_millis();
    let mut lines = view::summary(&run, name.as_deref(), now, term);
    lines.extend(view::input(&run, term));
    lines.extend(view::steps(&run, term));
    lines.extend(view::outcome(&run, name.as_deref(), now, term));
    for line in lines {
        writeln!(out, "{line}")?;
    }
    Ok(crate::exit::OK)
}
