//! Small helpers shared by the backends.

use crate::model::{Heartbeat, RunId};
use std::collections::HashMap;

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
    fn lost_runs_are_the_unrenewed_and_the_reclaimed() {
        let (a, b, c) = (RunId::now_v7(), RunId::now_v7(), RunId::now_v7());
        let held = HashMap::from([(a, (1, false)), (b, (3, false)), (c, (2, true))]);
        let hb = heartbeat_outcome(&[(a, 1), (b, 2), (c, 2), (RunId::nil(), 1)], &held);
        assert_eq!(hb.lost, vec![b, RunId::nil()]);
        assert_eq!(hb.cancel_requested, vec![c]);
    }
}
