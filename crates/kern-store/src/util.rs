//! Small helpers shared by the backends.

use crate::model::{Heartbeat, RunFilter, RunId, RunStatus};
use std::collections::HashMap;

/// Every status, in the order status lists are written in SQL.
const STATUSES: [RunStatus; 6] = [
    RunStatus::Pending,
    RunStatus::Running,
    RunStatus::Paused,
    RunStatus::Completed,
    RunStatus::Failed,
    RunStatus::Cancelled,
];

/// The SQL terms (each starting with ` AND `) of a run filter's status list, written with
/// literal names (they come from the enum) so that both databases can use partial indexes:
/// `status IN (…)` for [`RunFilter::statuses`], and, when every status asked for is `failed`
/// or `cancelled`, the predicate of the `kern_runs_dead` index written exactly as the index
/// has it (SQLite uses a partial index only when the query repeats its terms).
pub(crate) fn status_terms(f: &RunFilter) -> String {
    let mut sql = String::new();
    if !f.statuses.is_empty() {
        let names: Vec<String> = STATUSES
            .iter()
            .filter(|s| f.statuses.contains(s))
            .map(|s| format!("'{}'", s.as_str()))
            .collect();
        sql.push_str(&format!(" AND status IN ({})", names.join(", ")));
    }
    let dead = |s: &RunStatus| matches!(s, RunStatus::Failed | RunStatus::Cancelled);
    let asked = f.status.is_some() || !f.statuses.is_empty();
    if asked && f.status.iter().all(dead) && f.statuses.iter().all(dead) {
        sql.push_str(" AND status IN ('failed', 'cancelled')");
    }
    sql
}

/// Compares the runs an executor believes it owns with the leases the database renewed.
///
/// `held` maps each renewed run to its stored attempt and cancel flag. A run is lost when it
/// was not renewed or its attempt moved on (someone else claimed it).
pub(crate) fn heartbeat_outcome(
    runs: &[(RunId, u32)],
    held: &HashMap<RunId, (u32, bool)>,
) -> Heartbeat {
    let mut out = Heartbeat::default();
    for (id, attempt) in runs {
        match held.get(id) {
            Some((a, cancel)) if a == attempt => {
                if *cancel {
                    out.cancel_requested.push(*id);
                }
            }
            _ => out.lost.push(*id),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lists_are_literal_and_name_the_dead_letter_index() {
        let f = |status: Option<RunStatus>, statuses: Vec<RunStatus>| RunFilter {
            status,
            statuses,
            ..Default::default()
        };
        assert_eq!(status_terms(&f(None, vec![])), "");
        assert_eq!(
            status_terms(&f(
                None,
                vec![RunStatus::Cancelled, RunStatus::Failed, RunStatus::Failed]
            )),
            " AND status IN ('failed', 'cancelled') AND status IN ('failed', 'cancelled')"
        );
        assert_eq!(
            status_terms(&f(None, vec![RunStatus::Running, RunStatus::Pending])),
            " AND status IN ('pending', 'running')"
        );
        assert_eq!(
            status_terms(&f(Some(RunStatus::Failed), vec![])),
            " AND status IN ('failed', 'cancelled')"
        );
        assert_eq!(status_terms(&f(Some(RunStatus::Completed), vec![])), "");
    }

    #[test]
    fn lost_runs_are_the_unrenewed_and_the_reclaimed() {
        let (a, b, c) = (RunId::now_v7(), RunId::now_v7(), RunId::now_v7());
        let held = HashMap::from([(a, (1, false)), (b, (3, false)), (c, (2, true))]);
        let hb = heartbeat_outcome(&[(a, 1), (b, 2), (c, 2), (RunId::nil(), 1)], &held);
        assert_eq!(hb.lost, vec![b, RunId::nil()]);
        assert_eq!(hb.cancel_requested, vec![c]);
    }
}
