//! Caravan client agent (issue 3).
