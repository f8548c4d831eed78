//! Scenario tests: a real state store stands in for the server, the harness plays the
//! plan applier (check, then commit) and the clients (status updates).

mod harness;

mod check_plan;
mod constraints;
mod placement;
mod ports;
mod reschedule;
mod resources;
mod system;
mod updates;
