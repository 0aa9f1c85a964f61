//! Under construction (compiled only with the `wip-pull` feature).
