//! Node configuration (under construction).
