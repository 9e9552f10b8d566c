//! Process-level test harness for camview (see the crate description).
