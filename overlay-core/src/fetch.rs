//! Under construction (compiled only with the `wip-fetch` feature).
