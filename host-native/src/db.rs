//! The SQLite peer book and ban list (under construction).
