//! Nomad job files, HCL2 or JSON, into [`caravan_model::Job`].
//!
//! Owns variables, locals, HCL functions and the mapping from HCL blocks to the
//! model. Runtime references (`${NOMAD_*}`, `${node.*}`, `${attr.*}`, `${meta.*}`)
//! are kept literally for the client. Knows nothing about servers.

mod functions;
