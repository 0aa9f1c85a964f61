//! `host-native`: the stellar-overlay node on Tokio TCP.
//!
//! The protocol lives in `overlay-core`; this crate only moves bytes, keeps time, draws
//! randomness and prints.

pub mod admin;
pub mod bridge;
pub mod config;
pub mod db;
pub mod localnet;
pub mod logging;
pub mod node;
pub mod relay;
pub mod run;
pub mod simulate;
pub mod single;
pub mod survey_cli;
pub mod synthetic;
pub mod traffic;
pub mod web;
