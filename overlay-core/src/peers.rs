//! Under construction (compiled only with the `wip-peers` feature).
