//! Where the events of print maps go: stdout JSON lines or journald (the
//! metric families are `bee_metrics`'). Sinks see only plans and record bytes.

pub(crate) mod events;
pub(crate) mod journal;
pub(crate) mod queue;
pub(crate) mod sampling;
pub(crate) mod token_bucket;
